"""Marathon mode as the elastic loop's backend: each site's executor app.

Marathon owns the tasks (it restarts failed ones and runs the health checks); htcmesos
only moves each executor app's ``instances``, and only in two safe ways:

- **up**: a partial PUT of ``instances`` (Marathon starts the new ones);
- **down**: ``POST /v2/tasks/delete?scale=true`` naming exactly the tasks whose startds
  were drained (one call per tick for all of them), which kills those and lowers
  ``instances`` by as many. ``instances`` is never lowered by itself: Marathon would pick
  the victims, running tasks before instances that have no task yet.

A scale call that meets a deployment (409) is forced only past this backend's own
scale-ups (an earlier raise still waiting for offers or health checks): forcing replaces
that instance target and nothing else. A configuration roll-out or a group creation
(``htcmesos marathon apply``) is never cancelled by the autoscaler, nor its own removals:
the change waits for the next tick (a removal that waits keeps its drain).
"""
from __future__ import annotations

import datetime
import logging
from typing import Any, Callable, Mapping

from ...actuator import Backend
from ...clock import Clock
from ...errors import BackendError, MarathonLocked
from ...model import Role
from ...planner import Executor, TaskState
from ...spec import ClusterSpec
from .client import MarathonClient, MarathonTask
from ...condor.brokers import plan_brokers
from ..views import TaskView, marathon_app_link
from .render import app_id

log = logging.getLogger(__name__)

#: Task states that are alive (``TASK_UNREACHABLE`` is not counted: it comes back or is
#: replaced, as in framework mode).
_STARTING = {"TASK_STAGING", "TASK_STARTING", "TASK_STAGED"}
#: Marathon's task states as the operators' views name them (others: lower case, no TASK_)
_STATE_NAMES = {**{s: "starting" for s in _STARTING}, "TASK_RUNNING": "running",
                "TASK_KILLING": "killing", "TASK_UNREACHABLE": "unreachable"}


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of Marathon's ISO-8601 time (``2026-12-05T04:14:01.123Z``)."""
    if not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class MarathonBackend(Backend):
    """The executor apps of one pool's Marathon group (see the module docstring)."""

    def __init__(self, spec: ClusterSpec, client: MarathonClient, clock: Clock) -> None:
        self.spec, self.client, self.clock = spec, client, clock
        self.apps = {site.name: app_id(spec, Role.EXECUTOR, site.name) for site in spec.sites}
        self._size = (spec.roles[Role.EXECUTOR].cpus, spec.roles[Role.EXECUTOR].mem_mb)
        self._held: dict[str, str] = {}
        self._scale_ups: set[str] = set()       # deployments this backend started to scale up

    # -- what runs -----------------------------------------------------------------------

    def executors(self) -> list[Executor]:
        """Each app's live tasks, and its instances that have no task yet (waiting for an
        offer, or in Marathon's launch back-off) as starting executors named
        ``<app>#pending-<n>``: asked for, so the planner must not ask again (framework
        mode counts its launches the same way). No startd ever names them, so they are
        never drained or killed; lowering ``instances`` gives them back."""
        out = []
        now = self.clock.now()
        for site, app in self.apps.items():
            current = self.client.get_app(app)
            if current is None:
                continue
            live = 0
            for task in self.client.app_tasks(app):
                state = self._state(task)
                if state is not None:
                    live += 1
                    out.append(Executor(task.id, site, state, self._launched_at(task),
                                        *self._size))
            for n in range(max(0, int(current.get("instances", 0)) - live)):
                out.append(Executor(f"{app}#pending-{n}", site, TaskState.STARTING, now,
                                    *self._size))
        return out

    @staticmethod
    def _state(task: MarathonTask) -> TaskState | None:
        if task.state == "TASK_KILLING":
            return TaskState.KILLING
        if task.state in _STARTING:
            return TaskState.STARTING
        if task.state == "TASK_RUNNING":
            # healthy None: the app has no health check (htcmesos renders one)
            return TaskState.RUNNING if task.healthy is not False else TaskState.STARTING
        return None                         # over, or unreachable

    def _launched_at(self, task: MarathonTask) -> float:
        """Marathon's wall-clock start on the loop's clock (it only orders executors)."""
        at = _epoch(task.started_at)
        if at is None:
            return self.clock.now()
        return self.clock.now() - max(0.0, self.clock.wall() - at)

    def held_sites(self) -> dict[str, str]:
        return dict(self._held)

    def tasks(self) -> list[TaskView]:
        """The tasks of every app of the pool's group (all roles), each linked to its app
        in Marathon's UI. An app Marathon cannot list is left out (the executors' count
        says why, each tick)."""
        marathon = self.spec.backend.marathon
        home = self.spec.master_site.name
        apps = [(Role.MASTER, home, app_id(self.spec, Role.MASTER)),
                (Role.SUBMITTER, home, app_id(self.spec, Role.SUBMITTER))]
        apps += [(Role.BROKER, home, app_id(self.spec, Role.BROKER, broker=b.index))
                 for b in plan_brokers(self.spec).extra]
        apps += [(Role.EXECUTOR, site, app) for site, app in self.apps.items()]
        out = []
        for role, site, app in apps:
            try:
                tasks = self.client.app_tasks(app)
            except BackendError:
                continue
            link = marathon_app_link(marathon.url, app) if marathon is not None else None
            for task in sorted(tasks, key=lambda t: t.id):
                out.append(TaskView(task.id, role.value, site, _STATE_NAMES.get(
                    task.state, task.state.removeprefix("TASK_").lower()), task.healthy,
                    next((ip for ip in task.ip_addresses if ip), None),
                    task.agent_id or task.host or None, link))
        return out

    # -- changes -------------------------------------------------------------------------

    def set_desired(self, site: str, count: int,
                    sizes: Mapping[tuple[float, float], int] | None = None) -> None:
        """Raise the site's ``instances`` to ``count``; never lower them. Marathon picks
        the victims of a lower ``instances`` itself, and it takes running tasks before
        instances that have no task yet (``ScalingProposition.sortByConditionAndDate``:
        unreachable, staging, starting, running, then the rest): lowering would kill
        executors with jobs. Instances not needed after all start, stay idle, and are
        drained and removed by name like any other."""
        app = self.apps[site]
        current = self.client.get_app(app)
        if current is None:
            self._held[site] = (f"executor app {app} does not exist in Marathon: run "
                                f"`htcmesos marathon apply`")
            raise BackendError(self._held[site])
        self._held.pop(site, None)
        instances = int(current.get("instances", 0))
        if count <= instances:
            return
        self._call([app], lambda force: self.client.scale_app(app, count, force=force),
                   f"{app} instances {instances} → {count}", kills=False)

    def kill(self, task_id: str) -> bool:
        killed, errors = self.kill_many([task_id])
        if errors:
            raise BackendError(errors[0])
        return bool(killed)

    def kill_many(self, task_ids: list[str]) -> tuple[list[str], list[str]]:
        """One ``tasks/delete?scale=true`` for this tick's drained executors (Marathon
        lowers each app's ``instances`` by its killed tasks in the same deployment)."""
        known = {task.id: task for app in self.apps.values()
                 for task in self.client.app_tasks(app)}
        ids = [t for t in task_ids if t in known and self._state(known[t]) is not None]
        gone = [f"kill {t}: no such live task in Marathon" for t in task_ids if t not in ids]
        if not ids:
            return [], gone
        apps = sorted({known[t].app_id for t in ids})
        self._call(apps, lambda force: self.client.kill_tasks(ids, scale=True, force=force),
                   f"remove {len(ids)} drained executor(s) from {', '.join(apps)}", kills=True)
        return ids, gone

    def _call(self, apps: list[str], call: Callable[[bool], Any], describe: str,
              kills: bool) -> None:
        """``call(force)``, remembering the deployment it starts. On 409 it forces only
        past deployments this backend started itself to scale up (their target is stored
        already; forcing replaces nothing else) — never past a roll-out or a group
        creation by ``apply``, nor past its own removals (Marathon may not have killed
        the named tasks yet). Otherwise BackendError: tried again next tick."""
        try:
            deployment = call(False)
        except MarathonLocked as exc:
            holding = set(exc.deployments)
            if not holding or not holding <= self._scale_ups:
                raise BackendError(f"{describe}: deferred, {', '.join(apps)} held by "
                                   f"deployment(s) {', '.join(sorted(holding)) or '?'} "
                                   f"this loop did not start to scale up") from None
            deployment = call(True)
            self._scale_ups -= holding
            describe += " (over a scale-up still in progress)"
        if deployment is not None and not kills:
            self._scale_ups.add(deployment.id)
        log.info("marathon: %s", describe)
