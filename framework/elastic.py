"""The elastic pool's control loop: monitor → planner → actuator, one tick at a time.

The caller drives it (a thread in framework mode, the simulation's clock in benchmarks);
each tick returns the Decision, the status record that views and hooks read. With
``autoscaling.driver: clues`` the planner only carries out CLUES' power requests
(:mod:`.planner.power`), which other threads hand in through :meth:`request_power`.
After each tick the LRMS view CLUES reads (:attr:`view`) is replaced whole.
"""
from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from .actuator import Actuator, Applied, Backend, PoolControl
from .actuator.hooks import CluesHooks
from .clues.nodes import NodeTable, site_of
from .clues.view import lrms_jobs, lrms_nodes
from .errors import HtcmesosError, NotReady
from .monitor import PoolMonitor, PoolSnapshot
from .planner import Decision, Executor, PlannerState, plan
from .planner.power import PowerRequest, plan_power
from .spec import ClusterSpec

log = logging.getLogger(__name__)


class PowerRefused(HtcmesosError):
    """A power request the pool does not take (htcmesos, not CLUES, sizes it)."""


class LrmsView:
    """CLUES' view of the pool after one tick; its JSON-ready lists are made when first
    asked for (the API is asked now and then; the loop ticks at any pool size)."""

    def __init__(self, spec: ClusterSpec, at: float, snapshot: PoolSnapshot,
                 executors: list[Executor], table: NodeTable) -> None:
        self.spec, self.at, self._snapshot = spec, at, snapshot
        self._executors, self._table = executors, table

    @functools.cached_property
    def nodes(self) -> list[dict[str, Any]]:
        return lrms_nodes(self.spec, self._snapshot, self._executors, self._table)

    @functools.cached_property
    def jobs(self) -> list[dict[str, Any]]:
        return lrms_jobs(self.spec, self._snapshot)


class ElasticLoop:
    """One pool's loop; :meth:`tick` is not re-entrant (one caller at a time);
    :meth:`request_power` and :attr:`view` may be used from any thread."""

    def __init__(self, spec: ClusterSpec, monitor: PoolMonitor, backend: Backend,
                 control: PoolControl, hooks: CluesHooks | None = None) -> None:
        self.spec, self.monitor, self.backend, self.hooks = spec, monitor, backend, hooks
        self.actuator = Actuator(backend, control, hooks.before_kill if hooks else None)
        self.state = PlannerState()
        self.nodes = NodeTable()
        self.last: Decision | None = None
        self.applied: Applied | None = None
        self.view: LrmsView | None = None
        self._requests: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        if hooks is not None:
            hooks.name = lambda task_id: self._names.get(task_id, task_id)
        self._names: dict[str, str] = {}   # this tick's task → node, the just-removed too

    def request_power(self, node: str, on: bool) -> str:
        """Queue CLUES' power-on (``on``) or power-off of ``node`` for the next tick; a
        sentence saying so. NodeError for a name that is not a node, PowerRefused when
        htcmesos sizes the pool itself."""
        site = site_of(self.spec, node)
        if self.view is None:
            raise NotReady(f"pool {self.spec.pool.name} has not looked at its executors yet: "
                           f"ask again after its first tick")
        if self.spec.autoscaling.driver != "clues":
            raise PowerRefused(f"pool {self.spec.pool.name} sizes itself (autoscaling.driver: "
                               f"htcmesos): set autoscaling.driver: clues to let CLUES power "
                               f"nodes on and off")
        with self._lock:
            self._requests.append((node, on))
        if on:
            return f"power-on of {node} requested: an executor starts at site {site}"
        return f"power-off of {node} requested: it is drained, then its executor removed"

    def tick(self, now: float) -> Decision:
        snapshot = self.monitor.snapshot(now)
        executors = self.backend.executors()
        with self._lock:
            taken, self._requests = self._requests, []
        if self.spec.autoscaling.driver == "clues":
            requests = [PowerRequest(node, on, now) for node, on in taken]
            try:
                decision, self.nodes = plan_power(snapshot, executors, self.spec, self.state,
                                                  self.nodes, requests, now)
            except Exception:
                with self._lock:                  # accepted (202): kept for the next tick
                    self._requests[:0] = taken
                raise
        else:
            decision = plan(snapshot, executors, self.spec, self.state, now,
                            self.backend.held_sites())
        self.applied = self.actuator.apply(decision)
        self.state, self.last = self.applied.state, decision
        after = self.backend.executors()
        before = self.nodes.bound
        self.nodes = self.nodes.bind(after, self.spec)      # executors launched just now
        self._names = {**before, **self.nodes.bound}
        self.view = LrmsView(self.spec, now, snapshot, after, self.nodes)
        if self.hooks is not None:
            try:
                self.hooks.tick(snapshot, after, decision, self.applied)
            except Exception:  # noqa: BLE001 - hooks never stop the pool
                log.exception("hooks failed")
        return decision
