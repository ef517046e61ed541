"""A scripted pool for the dashboard's tests: what :class:`dashboards.source.LocalSource`
reads of an :class:`~framework.elastic.ElasticLoop` (``spec``, ``status``, ``controls``,
``backend.tasks()`` and the operator methods), with the real :class:`StatusLog` and the
real :class:`Controls`, but ticks the test writes instead of a planner's.

:meth:`ScriptedLoop.tick` appends one :class:`TickStatus` from per-site counts; each
site's bounds, desired size and drain come from the controls then, and ``wanted``
follows the operator's desired size when one is set (as the planner would). The clock is
the test's (``wall``, epoch s, advanced by :meth:`ScriptedLoop.tick`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from framework.backends.views import TaskView
from framework.controls import Controls, UnknownNode
from framework.planner.decision import Code, Reason
from framework.spec import ClusterSpec
from framework.statuslog import OperatorAction, SiteStatus, StatusLog, TickStatus

#: 2023-11-14 22:13:20 UTC: the scripted pool's first tick
START_WALL = 1_700_000_000.0


#: a backend task as ``Backend.tasks()`` lists it
Task = TaskView


@dataclass(frozen=True)
class Counts:
    """One site's executors and jobs in a scripted tick."""

    wanted: int = 0
    starting: int = 0
    running: int = 0
    idle: int = 0
    draining: int = 0
    jobs_idle: int = 0
    jobs_running: int = 0
    held: str | None = None


class ScriptedBackend:
    """The backend's task list (what the dashboard's task table and htcmesos_tasks show)."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.task_list = list(tasks)

    def tasks(self) -> list[Task]:
        return list(self.task_list)


class ScriptedLoop:
    """The loop-like object: ticks from the test, operator methods like ElasticLoop's
    (validate through Controls, change nothing on error, record an OperatorAction)."""

    def __init__(self, spec: ClusterSpec, tasks: Iterable[Task] = (),
                 tick_s: float = 10.0) -> None:
        self.spec, self.tick_s = spec, tick_s
        self.status = StatusLog()
        self.backend = ScriptedBackend(tasks)
        self.wall = START_WALL
        self._controls = Controls.from_spec(spec)
        self._lock = threading.Lock()

    @property
    def controls(self) -> Controls:
        return self._controls

    # -- ticks ---------------------------------------------------------------------------

    def tick(self, sites: Mapping[str, Counts], *, jobs_idle_any: int = 0,
             reasons: Iterable[tuple[Code, str, str]] = (), actions: Iterable[str] = (),
             launches: Mapping[str, int] | None = None, drains: Mapping[str, int] | None = None,
             removals: Mapping[str, int] | None = None, errors: Iterable[str] = (),
             fresh: bool = True, duration_s: float = 0.2, notable: bool = True) -> TickStatus:
        """Append the next tick (``tick_s`` after the last) and return it."""
        with self._lock:
            controls = self._controls
            statuses = []
            for spec_site in self.spec.sites:
                c, n = controls.site(spec_site.name), sites.get(spec_site.name, Counts())
                wanted = n.wanted if c.desired is None else c.desired
                statuses.append(SiteStatus(
                    spec_site.name, spec_site.private, wanted, n.starting, n.running, n.idle,
                    n.draining, n.jobs_idle, n.jobs_running, c.min, c.max, c.desired,
                    c.drained, n.held))
            self.wall += self.tick_s
            tick = TickStatus(
                at=self.wall - START_WALL, wall=self.wall, fresh=fresh,
                snapshot_age_s=1.5 if fresh else 95.0,
                error=None if fresh else "the collector at 10.1.0.2:9618 does not answer",
                paused=controls.paused, sites=tuple(statuses), jobs_idle_any=jobs_idle_any,
                reasons=tuple(Reason(code, site, detail) for code, site, detail in reasons),
                actions=tuple(actions), launches=dict(launches or {}),
                drains=dict(drains or {}), removals=dict(removals or {}),
                errors=tuple(errors), duration_s=duration_s, notable=notable)
            self.status.append(tick)
            return tick

    # -- operator methods (ElasticLoop's) ------------------------------------------------

    def _done(self, who: str, action: str, what: str, controls: Controls) -> dict[str, Any]:
        self._controls = controls
        self.status.operator(OperatorAction(self.wall, who, what, action))
        return {"message": what}

    def set_site(self, site: str, changes: Mapping[str, Any], who: str) -> dict[str, Any]:
        with self._lock:
            new = self._controls.with_site(site, changes)
            what = f"site {site}: " + ", ".join(f"{k} {v}" for k, v in changes.items())
            return self._done(who, "set_site", what, new)

    def drain_site(self, site: str, who: str) -> dict[str, Any]:
        with self._lock:
            return self._done(who, "drain_site", f"drain site {site}",
                              self._controls.with_drained(site, True))

    def undrain_site(self, site: str, who: str) -> dict[str, Any]:
        with self._lock:
            return self._done(who, "undrain_site", f"undrain site {site}",
                              self._controls.with_drained(site, False))

    def drain_node(self, node: str, who: str) -> dict[str, Any]:
        with self._lock:
            task = next((t for t in self.backend.task_list if t.role == "executor"
                         and node in (t.task_id, t.agent)), None)
            if task is None:
                raise UnknownNode(f"no live executor {node!r} in pool {self.spec.pool.name}")
            done = self._done(who, "drain_node", f"drain node {task.task_id}",
                              self._controls.with_node_drain(task.task_id))
            return {**done, "task_id": task.task_id}

    def pause(self, who: str) -> dict[str, Any]:
        with self._lock:
            return self._done(who, "pause", "pause autoscaling",
                              self._controls.with_paused(True))

    def resume(self, who: str) -> dict[str, Any]:
        with self._lock:
            return self._done(who, "resume", "resume autoscaling",
                              self._controls.with_paused(False))
