"""Lifecycle of one htcmesos task: a phase Enum and a transition table over Mesos states.

Every (phase, reported Mesos state) pair has an entry; the entry says the next phase and
what the backend must do. Reports that would move a task backwards (late or reordered
updates) keep the phase; a task that reports RUNNING after it was given up is killed.

TASK_UNREACHABLE (the framework is PARTITION_AWARE) is not an end: the task may still run
behind a partition. It stops counting (Phase.UNREACHABLE is not active) and comes back
RUNNING if its agent returns (Action.RETURNED); only an end reported after that ends it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ..mesos.protocol import TaskState


class Phase(str, enum.Enum):
    LAUNCHING = "launching"  # ACCEPT sent, no update yet
    STARTING = "starting"    # STAGING / STARTING reported
    RUNNING = "running"      # RUNNING reported (healthy is tracked separately)
    KILLING = "killing"      # we asked Mesos to kill it
    UNREACHABLE = "unreachable"  # its agent is cut off: it may still run
    ENDED = "ended"          # terminal: it no longer counts

    @property
    def active(self) -> bool:
        """Counts towards the desired number of tasks."""
        return self in (Phase.LAUNCHING, Phase.STARTING, Phase.RUNNING)


class Action(str, enum.Enum):
    NONE = "none"
    FAILED = "failed"        # ended unexpectedly: back off, then replace
    GONE = "gone"            # ended as asked (killed / finished after kill): replace if wanted
    KILL = "kill"            # a task we had given up on is alive: kill it
    RETURNED = "returned"    # an unreachable task is back (its agent re-registered)


@dataclass(frozen=True)
class Step:
    phase: Phase
    action: Action


_FAILURE_STATES = (TaskState.FAILED, TaskState.ERROR, TaskState.LOST, TaskState.DROPPED,
                   TaskState.GONE, TaskState.GONE_BY_OPERATOR)
_LIVE_STATES = (TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING)
_ENDED_ON_REQUEST = (TaskState.FINISHED, TaskState.KILLED, TaskState.UNKNOWN)


def _row(phase: Phase) -> dict[TaskState, Step]:
    row: dict[TaskState, Step] = {}
    for state in TaskState:
        if phase is Phase.ENDED:
            # Late updates of an ended task: ignore, except a live task we gave up → kill it.
            row[state] = Step(Phase.ENDED, Action.KILL if state in _LIVE_STATES else Action.NONE)
        elif state is TaskState.UNREACHABLE:
            # may run on behind a partition; a kill we asked for stays asked (retried)
            row[state] = Step(Phase.KILLING if phase is Phase.KILLING else Phase.UNREACHABLE,
                              Action.NONE)
        elif phase is Phase.UNREACHABLE:
            if state in _FAILURE_STATES or state in _ENDED_ON_REQUEST:
                # it ended behind the partition; it stopped counting (and was replaced if
                # wanted) when it became unreachable: no back-off for a partition
                row[state] = Step(Phase.ENDED, Action.GONE)
            elif state in (TaskState.RUNNING, TaskState.KILLING):
                row[state] = Step(Phase.RUNNING, Action.RETURNED)
            else:
                row[state] = Step(Phase.STARTING, Action.RETURNED)
        elif state in _FAILURE_STATES or state in _ENDED_ON_REQUEST:
            # Role daemons never finish on their own: any end is a failure unless we killed it.
            # (UNKNOWN: the master does not know the task, it is gone.)
            asked = phase is Phase.KILLING
            row[state] = Step(Phase.ENDED, Action.GONE if asked else Action.FAILED)
        elif phase is Phase.KILLING:
            row[state] = Step(Phase.KILLING, Action.NONE)  # still alive, our kill under way
        elif state is TaskState.KILLING:
            # Mesos kills it, not we (failed health checks): its end will be a failure
            row[state] = Step(Phase.RUNNING if phase is Phase.RUNNING else Phase.STARTING,
                              Action.NONE)
        elif state is TaskState.RUNNING or phase is Phase.RUNNING:
            # a late STAGING/STARTING after RUNNING changes nothing
            row[state] = Step(Phase.RUNNING, Action.NONE)
        else:  # STAGING / STARTING
            row[state] = Step(Phase.STARTING, Action.NONE)
    return row


#: The full table: TRANSITIONS[phase][state] → Step.
TRANSITIONS: dict[Phase, dict[TaskState, Step]] = {phase: _row(phase) for phase in Phase}


def step(phase: Phase, state: TaskState) -> Step:
    """What a report of ``state`` does to a task in ``phase``."""
    return TRANSITIONS[phase][state]
