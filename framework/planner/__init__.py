"""The elastic pool's planner: pure decisions from a pool snapshot and the executors."""
from .decision import Code, Decision, Drain, Executor, PlannerState, Reason, TaskState
from .planner import plan

__all__ = ["Code", "Decision", "Drain", "Executor", "PlannerState", "Reason", "TaskState",
           "plan"]
