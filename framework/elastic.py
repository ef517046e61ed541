"""The elastic pool's control loop: monitor → planner → actuator, one tick at a time.

The caller drives it (a thread in framework mode, the simulation's clock in benchmarks);
each tick returns the Decision, the status record that views and hooks read.
"""
from __future__ import annotations

import logging

from .actuator import Actuator, Applied, Backend, PoolControl
from .actuator.hooks import CluesHooks
from .monitor import PoolMonitor
from .planner import Decision, PlannerState, plan
from .spec import ClusterSpec


class ElasticLoop:
    """One pool's loop; :meth:`tick` is not re-entrant (one caller at a time)."""

    def __init__(self, spec: ClusterSpec, monitor: PoolMonitor, backend: Backend,
                 control: PoolControl, hooks: CluesHooks | None = None) -> None:
        self.spec, self.monitor, self.backend, self.hooks = spec, monitor, backend, hooks
        self.actuator = Actuator(backend, control, hooks.before_kill if hooks else None)
        self.state = PlannerState()
        self.last: Decision | None = None
        self.applied: Applied | None = None

    def tick(self, now: float) -> Decision:
        snapshot = self.monitor.snapshot(now)
        executors = self.backend.executors()
        decision = plan(snapshot, executors, self.spec, self.state, now)
        self.applied = self.actuator.apply(decision)
        self.state, self.last = self.applied.state, decision
        if self.hooks is not None:
            try:
                self.hooks.tick(snapshot, self.backend.executors(), decision, self.applied)
            except Exception:  # noqa: BLE001 - hooks never stop the pool
                log.exception("hooks failed")
        return decision


log = logging.getLogger(__name__)
