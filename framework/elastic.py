"""The elastic pool's control loop: monitor → planner → actuator, one tick at a time.

The caller drives it (a thread in framework mode, the simulation's clock in benchmarks);
each tick returns the Decision, the status record that views and hooks read. With
``autoscaling.driver: clues`` the planner only carries out CLUES' power requests
(:mod:`.planner.power`), which other threads hand in through :meth:`request_power`.
After each tick the LRMS view CLUES reads (:attr:`view`) is replaced whole.

Operators change the pool through the methods of :class:`ElasticLoop` (the REST API and
the dashboard call them from other threads): each validates first and changes nothing on
error (:class:`~framework.controls.ControlError`), then replaces the current
:class:`~framework.controls.Controls`, which the next tick hands to the planner, and
records who did what. With a :class:`~framework.controlstore.ControlStore` the loop starts
from the controls saved there (parts the spec no longer allows are dropped, each with a
warning) and saves them after each change, within the same lock, so the saved order is
the changes' order; a failed save leaves the change in force and the answer says so
(``"saved": false`` and a ``"warning"``; saving is retried every tick). Every tick
appends its :class:`~framework.statuslog.TickStatus` to :attr:`ElasticLoop.status`; a
tick that raises counts as failed there.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable, Mapping

from .actuator import Actuator, Applied, Backend, PoolControl
from .actuator.hooks import CluesHooks
from .backends.views import TaskView
from .clues.nodes import NodeTable, site_of
from .clues.view import lrms_jobs, lrms_nodes
from .controls import Controls, InvalidControl, NotOperable, UnknownNode
from .controlstore import ControlKeeper, ControlStore
from .errors import HtcmesosError, NotReady
from .monitor import PoolMonitor, PoolSnapshot
from .planner import Decision, Executor, PlannerState, TaskState, plan
from .planner.planner import drains_over
from .planner.power import PowerRequest, plan_power
from .spec import ClusterSpec
from .statuslog import OperatorAction, StatusLog
from .tickstatus import tick_status

log = logging.getLogger(__name__)
#: operators' changes, who and what (the command line always shows this logger)
audit = logging.getLogger("htcmesos.audit")


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
    :meth:`request_power`, :attr:`view`, :attr:`controls`, :attr:`status` and the
    operator's methods may be used from any thread. ``wall``: epoch seconds for the
    status records and operator actions; ``controls_store``: where the operator's
    controls are kept across restarts (None: nowhere, they start from the spec)."""

    def __init__(self, spec: ClusterSpec, monitor: PoolMonitor, backend: Backend,
                 control: PoolControl, hooks: CluesHooks | None = None,
                 wall: Callable[[], float] = time.time, status: StatusLog | None = None,
                 controls_store: ControlStore | None = None) -> None:
        self.spec, self.monitor, self.backend, self.hooks = spec, monitor, backend, hooks
        self.actuator = Actuator(backend, control, hooks.before_kill if hooks else None)
        self.state = PlannerState()
        self.nodes = NodeTable()
        self.last: Decision | None = None
        self.applied: Applied | None = None
        self.view: LrmsView | None = None
        self.status = status if status is not None else StatusLog()
        self.wall = wall
        self._keeper = ControlKeeper(controls_store, spec)
        self._controls = self._keeper.restore()
        self._live: dict[str, str] = {}     # last tick: node name / host / task id → task id
        self._shared: dict[str, list[str]] = {}   # host parts of several startds → their names
        self._tasks: list[TaskView] = []
        self._requests: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        if hooks is not None:
            hooks.name = lambda task_id: self._names.get(task_id, task_id)
        self._names: dict[str, str] = {}   # this tick's task → node, the just-removed too

    @property
    def controls(self) -> Controls:
        """The operator's current settings (an immutable value)."""
        with self._lock:
            return self._controls

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

    # -- the operator's requests -----------------------------------------------------

    def set_site(self, site: str, changes: Mapping[str, Any], who: str) -> dict[str, Any]:
        """Change a site's ``min``, ``max`` and/or ``desired`` (None: back to the queue)."""
        def what() -> str:           # called once the changes were found valid
            said = ", ".join(f"{k}={'null' if v is None else v}" for k, v in changes.items())
            return f"set site {site} {said or '(no change)'}"
        new, saved = self._change("set_site", who, lambda c: c.with_site(site, changes), what)
        control = new.site(site)
        return {"site": site, "min": control.min, "max": control.max,
                "desired": control.desired, "drained": control.drained, **saved}

    def drain_site(self, site: str, who: str) -> dict[str, Any]:
        """Drain every executor of ``site`` (running jobs finish) and launch nothing there."""
        _, saved = self._change("drain_site", who, lambda c: c.with_drained(site, True),
                                f"drain site {site}")
        return {"site": site, "drained": True,
                "message": f"site {site} is drained: nothing is launched there; its executors "
                           f"are drained (running jobs finish), then removed", **saved}

    def undrain_site(self, site: str, who: str) -> dict[str, Any]:
        """Give a drained site back to the autoscaler (its operator drains are cancelled)."""
        _, saved = self._change("undrain_site", who, lambda c: c.with_drained(site, False),
                                f"undrain site {site}")
        return {"site": site, "drained": False,
                "message": f"site {site} is back with the autoscaler", **saved}

    def drain_node(self, node: str, who: str) -> dict[str, Any]:
        """Drain one executor (``node``: its task id, startd name or host; one of the last
        tick's live executors), then remove it once its running jobs have ended."""
        def change(c: Controls) -> Controls:
            task_id = self._find(node)
            found.append(task_id)
            return c.with_node_drain(task_id)
        found: list[str] = []
        _, saved = self._change("drain_node", who, change,
                                lambda: f"drain node {node} (task {found[0]})")
        return {"node": node, "task_id": found[0],
                "message": f"{node} is drained (running jobs finish), then its executor "
                           f"task {found[0]} is removed", **saved}

    def pause(self, who: str) -> dict[str, Any]:
        """Stop the queue's launches and drains (minimums, desired sizes and operator
        drains go on)."""
        _, saved = self._change("pause", who, lambda c: c.with_paused(True),
                                "pause autoscaling")
        return {"paused": True, **saved}

    def resume(self, who: str) -> dict[str, Any]:
        """Give the pool back to the queue."""
        _, saved = self._change("resume", who, lambda c: c.with_paused(False),
                                "resume autoscaling")
        return {"paused": False, **saved}

    def _change(self, action: str, who: str, change: Callable[[Controls], Controls],
                what: str | Callable[[], str]) -> tuple[Controls, dict[str, Any]]:
        """Apply ``change`` to the controls (it raises ControlError: nothing changed),
        then log, record and save it; the new controls and the save's answer keys."""
        if self.spec.autoscaling.driver == "clues":
            raise NotOperable(f"pool {self.spec.pool.name} is sized by CLUES "
                              f"(autoscaling.driver: clues): ask CLUES to power nodes on "
                              f"and off instead")
        with self._lock:         # recorded with the change: the log's order is theirs
            new = change(self._controls)
            text = what() if callable(what) else what
            done = OperatorAction(self.wall(), who, text, action)
            self._controls = new
            audit.info("operator %s: %s", who, text)
            self.status.operator(done)
            saved = self._keeper.save(new, retry=False)
        return new, saved

    def _find(self, node: str) -> str:
        """The task id of the live executor ``node`` names (caller holds the lock): a task
        id, a startd name ``slot1@host`` or a dynamic slot's ``slot1_2@host``, the startd's
        ``host`` part (``name@host`` or ``host``) when only one executor has it."""
        names = [node] + ([node.partition("@")[2]] if "@" in node else [])
        for name in names:
            task_id = self._live.get(name)
            if task_id is not None:
                return task_id
            if name in self._shared:
                startds = ", ".join(self._shared[name])
                raise InvalidControl(f"{node!r} names {len(self._shared[name])} executors "
                                     f"({startds}): name one by its startd name or task id")
        raise UnknownNode(f"no live executor {node!r} in pool {self.spec.pool.name} "
                          f"(name a task id, a startd name slot1@host or its host)")

    # -- the tick ----------------------------------------------------------------------

    def tick(self, now: float) -> Decision:
        """One tick at ``now`` (clock s): plan, act, record its status."""
        started = time.perf_counter()
        try:
            return self._tick(now, started)
        except Exception:
            self.status.failed()
            raise

    def _tick(self, now: float, started: float) -> Decision:
        snapshot = self.monitor.snapshot(now)
        executors = self.backend.executors()
        held = self.backend.held_sites()
        with self._lock:
            taken, self._requests = self._requests, []
            # node drains that are over end; one the backend leaves out a while (an
            # unreachable agent) with its startd still there stays: were it forgotten,
            # its drain would be taken for a drained site's and cancelled
            kept = self._controls.without_node_drains(drains_over(
                self._controls.node_drains, executors, snapshot, snapshot.by_task()))
            ended, self._controls = kept is not self._controls, kept
            if ended or self._keeper.unsaved is not None:
                self._keeper.save(kept, retry=not ended)
            controls = self._controls
        spec = controls.effective_spec(self.spec)
        if self.spec.autoscaling.driver == "clues":
            spec = self.spec
            requests = [PowerRequest(node, on, now) for node, on in taken]
            try:
                decision, self.nodes = plan_power(snapshot, executors, self.spec, self.state,
                                                  self.nodes, requests, now)
            except Exception:
                with self._lock:                  # accepted (202): kept for the next tick
                    self._requests[:0] = taken
                raise
        else:
            decision = plan(snapshot, executors, spec, self.state, now, held, controls)
        self.applied = self.actuator.apply(decision)
        self.state, self.last = self.applied.state, decision
        after = self.backend.executors()
        before = self.nodes.bound
        self.nodes = self.nodes.bind(after, self.spec)      # executors launched just now
        self._names = {**before, **self.nodes.bound}
        self.view = LrmsView(self.spec, now, snapshot, after, self.nodes)
        self._remember(snapshot, after)
        if self.hooks is not None:
            try:
                self.hooks.tick(snapshot, after, decision, self.applied)
            except Exception:  # noqa: BLE001 - hooks never stop the pool
                log.exception("hooks failed")
        try:
            tasks = self.backend.tasks()
        except Exception as exc:  # noqa: BLE001 - the views keep the last list
            log.debug("the backend's tasks: %s", exc)
        else:
            with self._lock:
                self._tasks = tasks
        self.status.append(tick_status(spec, controls, snapshot, executors, after, decision,
                                       self.applied, held, self.wall(),
                                       time.perf_counter() - started, self.status.latest()))
        return decision

    def task_views(self) -> list[TaskView]:
        """Every task of the pool as of the last tick (the backend is asked once a tick,
        by the loop's thread: views never call it)."""
        with self._lock:
            return list(self._tasks)

    def _remember(self, snapshot: PoolSnapshot, after: list[Executor]) -> None:
        """The live executors by task id, startd name and host parts (for
        :meth:`drain_node`); a host part several executors share names none of them."""
        live: dict[str, str] = {}
        parts: dict[str, list[str]] = {}        # host part → startd names
        ads = snapshot.by_task()
        for e in after:
            if e.state is TaskState.KILLING:
                continue
            ad = ads.get(e.task_id)
            if ad is not None:
                live[ad.name] = e.task_id
                machine = ad.name.partition("@")[2]
                for part in {machine, machine.rpartition("@")[2]} - {""}:
                    parts.setdefault(part, []).append(ad.name)
            live[e.task_id] = e.task_id
        shared = {part: sorted(names) for part, names in parts.items() if len(names) > 1}
        for part, names in parts.items():
            if part not in shared:
                live.setdefault(part, live[names[0]])
        with self._lock:
            self._live, self._shared = live, shared
