"""The elastic pool's control loop: monitor → planner → actuator, one tick at a time.

The caller drives it (a thread in framework mode, the simulation's clock in benchmarks);
each tick returns the Decision, the status record that views and hooks read.
"""
from __future__ import annotations

from .actuator import Actuator, Applied, Backend, PoolControl
from .actuator.actuator import Hook
from .monitor import PoolMonitor
from .planner import Decision, PlannerState, plan
from .spec import ClusterSpec


class ElasticLoop:
    """One pool's loop; :meth:`tick` is not re-entrant (one caller at a time)."""

    def __init__(self, spec: ClusterSpec, monitor: PoolMonitor, backend: Backend,
                 control: PoolControl, hooks: tuple[Hook, ...] = ()) -> None:
        self.spec, self.monitor, self.backend = spec, monitor, backend
        self.actuator = Actuator(backend, control, hooks)
        self.state = PlannerState()
        self.last: Decision | None = None
        self.applied: Applied | None = None

    def tick(self, now: float) -> Decision:
        snapshot = self.monitor.snapshot(now)
        decision = plan(snapshot, self.backend.executors(), self.spec, self.state, now)
        self.applied = self.actuator.apply(decision)
        self.state, self.last = self.applied.state, decision
        return decision
