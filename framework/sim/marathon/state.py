"""Apps, groups, deployments and tasks of the emulated Marathon, under one lock.

:class:`Store` is what the REST handlers change and the Mesos scheduler feeds. Every
change ends in :meth:`Store.reconcile`, which turns the desired state (apps, deployments)
into task kills (returned to the caller, who sends them to Mesos outside the lock) and
per-app launch counts (:attr:`App.pending`, consumed by :meth:`Store.match_offers`).

Upstream behaviour followed, by file (mesosphere/marathon):
- ``api/v2/AppsResource.scala``, ``GroupsResource.scala``, ``TasksResource.scala``,
  ``DeploymentsResource.scala``: the answers;
- ``core/deployment/DeploymentPlan.scala``, ``deployment/impl/DeploymentActor.scala``:
  steps, locks (``AppLockedException`` → 409), cancel and rollback;
- ``core/launchqueue/impl/RateLimiter.scala``: the launch delay (back-off) after failures,
  reset when a task becomes healthy (or on a config change);
- ``raml/TaskConversion.scala``, ``raml/AppConversion.scala``: the JSON.
"""
from __future__ import annotations

import copy
import datetime
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ...clock import Clock
from . import deploy
from .events import EventHub
from .paths import TASK_ID, is_under, new_task_id, parent, resolve, segments
from .taskinfo import SecretMissing, build_task_info, constraints_met, offer_scalars
from .validate import AppInvalid, config_of, merge_update, normalize_app, not_valid

TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                      "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"})
KILL_RETRY_S = 5.0


def iso(wall: float) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as Marathon prints timestamps."""
    dt = datetime.datetime.fromtimestamp(wall, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Task:
    id: str
    app_id: str
    config_version: str
    version: str
    agent_id: str
    host: str
    placement: dict[str, Any]          # hostname, attributes, domain of the offer
    staged_at: float                   # wall seconds
    launched: float = 0.0              # clock seconds
    state: str = "TASK_STAGING"
    started_at: float | None = None
    ips: list[str] = field(default_factory=list)
    healthy: bool | None = None
    killing: bool = False
    kill_sent_at: float | None = None  # clock seconds
    message: str = ""
    unreachable_since: float | None = None   # clock seconds
    consecutive_failures: int = 0
    first_success: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_failure_cause: str | None = None

    @property
    def instance_id(self) -> str:
        return self.id.rsplit("._app.", 1)[0]


@dataclass
class App:
    spec: dict[str, Any]
    config_version: str
    delay_n: int = 0
    launch_after: float = 0.0          # clock seconds (back-off)
    pending: int = 0                   # launches wanted now
    last_failure: dict[str, Any] | None = None


@dataclass
class Deployment:
    id: str
    version: str
    steps: list[list[tuple[str, str]]]
    original: dict[str, dict[str, Any] | None]
    current: int = 0                   # index of the step in progress

    @property
    def affected(self) -> list[str]:
        return sorted({app for step in self.steps for _, app in step})

    def held(self, app_id: str) -> bool:
        """Is ``app_id`` in a step after the current one (not to be touched yet)?"""
        return any(app == app_id for step in self.steps[self.current + 1:] for _, app in step)


class Store:
    """The emulator's state; every public method takes the lock."""

    def __init__(self, hub: EventHub, clock: Clock, features: Iterable[str],
                 secrets_dir: Path | None, rng_uuid: Callable[[], uuid.UUID],
                 task_launch_timeout_s: float = 300.0):
        self.lock = threading.RLock()
        self.hub, self.clock = hub, clock
        self.features = tuple(features)
        self.secrets_dir = secrets_dir
        self._uuid = rng_uuid
        self.task_launch_timeout_s = task_launch_timeout_s
        self.apps: dict[str, App] = {}
        self.stopping: dict[str, App] = {}            # deleted apps whose tasks still run
        self.groups: dict[str, dict[str, Any]] = {"/": {"dependencies": [], "version": None}}
        self.tasks: dict[str, Task] = {}               # live (non-terminal) tasks
        self.versions: dict[str, dict[str, dict[str, Any]]] = {}
        self.deployments: dict[str, Deployment] = {}
        self.min_healthy: dict[str, int] = {}
        self._pending_kills: list[tuple[str, str]] = []
        self._last_version = 0.0
        self.groups["/"]["version"] = self.new_version()

    # -- small helpers ---------------------------------------------------------------------

    def now_iso(self) -> str:
        return iso(self.clock.wall())

    def new_version(self) -> str:
        """A fresh version timestamp, strictly later than the previous one."""
        wall = max(self.clock.wall(), self._last_version + 0.001)
        self._last_version = wall
        return iso(wall)

    def app_tasks(self, app_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.app_id == app_id]

    def _active_tasks(self, app: App) -> list[Task]:
        """The app's tasks that count: an unreachable one stops counting after
        ``unreachableStrategy.inactiveAfterSeconds`` (never when ``disabled``), and a
        replacement is launched (``core/instance/UnreachableStrategy.scala``)."""
        strategy = app.spec["unreachableStrategy"]
        tasks = self.app_tasks(app.spec["id"])
        if strategy == "disabled":
            return tasks
        now = self.clock.now()
        return [t for t in tasks if t.unreachable_since is None
                or now - t.unreachable_since < strategy["inactiveAfterSeconds"]]

    def _holding(self, app_ids: Iterable[str]) -> list[Deployment]:
        ids = set(app_ids)
        return [d for d in self.deployments.values() if ids & set(d.affected)]

    def _check_locks(self, app_ids: Iterable[str], force: bool) -> None:
        holding = self._holding(app_ids)
        if not holding:
            return
        if not force:
            first = holding[0].id
            raise AppInvalid(409, {
                "message": "App is locked by one or more deployments. Override with the option "
                           f"'?force=true'. View details at '/v2/deployments/{first}'.",
                "deployments": [{"id": d.id} for d in holding]})
        for dep in holding:
            self._cancel(dep)

    def _cancel(self, dep: Deployment) -> None:
        self.deployments.pop(dep.id, None)
        self.hub.publish("deployment_failed", {"id": dep.id, "plan": self.deployment_json(dep)})

    def _ensure_groups(self, app_or_group: str, version: str) -> None:
        path = app_or_group
        while path != "/":
            path = parent(path)
            self.groups.setdefault(path, {"dependencies": [], "version": version})

    # -- deployments -----------------------------------------------------------------------

    def deploy(self, changes: dict[str, dict[str, Any] | None], force: bool,
               restart: Iterable[str] = (), decommission: bool = True) -> Deployment:
        """Apply ``changes`` (app id → normalized spec, None: delete) as one deployment;
        apps in ``restart`` get new tasks even when their config is unchanged;
        ``decommission``: a lower ``instances`` picks its victims (not when the caller
        names them: ``tasks/delete?scale=true``)."""
        self._check_locks(changes, force)
        version = self.new_version()
        acts: dict[str, str] = {}
        original: dict[str, dict[str, Any] | None] = {}
        for app_id, spec in changes.items():
            current = self.apps.get(app_id)
            original[app_id] = copy.deepcopy(current.spec) if current else None
            if spec is None:
                if current is not None:
                    self.stopping[app_id] = self.apps.pop(app_id)
                    acts[app_id] = "StopApplication"
                continue
            acts[app_id] = self._set_app(app_id, spec, current, version, app_id in set(restart),
                                         decommission)
        deps = {a: (self.apps[a].spec if a in self.apps else original[a] or {}).get("dependencies", [])
                for a in acts}
        dep = Deployment(str(self._uuid()), version, deploy.order_steps(acts, deps), original)
        self.deployments[dep.id] = dep
        for app_id in acts:
            app = self.apps.get(app_id) or self.stopping.get(app_id)
            if app is not None:
                self.min_healthy[app_id] = deploy.healthy_count(app.spec, self._active_tasks(app))
        self.hub.publish("deployment_info", {"plan": self.deployment_json(dep),
                                             "currentStep": self._step_json(dep)})
        return dep

    def _set_app(self, app_id: str, spec: dict[str, Any], current: App | None, version: str,
                 restart: bool = False, decommission: bool = True) -> str:
        spec = copy.deepcopy(spec)
        spec.pop("version", None)
        spec.pop("versionInfo", None)
        spec["id"] = app_id
        spec["version"] = version
        if current is None:
            stopped = self.stopping.pop(app_id, None)
            spec["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
            app = App(spec, version)
            if stopped is not None:
                app.delay_n, app.launch_after = stopped.delay_n, stopped.launch_after
            self.apps[app_id] = app
            action = "StartApplication"
            self._ensure_groups(app_id, version)
        elif restart or config_of(spec) != config_of(current.spec):
            spec["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
            current.spec, current.config_version = spec, version
            current.delay_n, current.launch_after = 0, 0.0     # a new config starts afresh
            action = "RestartApplication"
        else:
            last_config = current.spec["versionInfo"]["lastConfigChangeAt"]
            spec["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": last_config}
            old_n = int(current.spec["instances"])
            current.spec = spec
            if decommission:
                self._decommission(current, old_n, int(spec["instances"]))
            action = "ScaleApplication"
        self.versions.setdefault(app_id, {})[version] = copy.deepcopy(spec)
        return action

    def _decommission(self, app: App, old_n: int, new_n: int) -> None:
        """Instances lowered: as upstream's ``ScalingProposition.propose``, the instances
        going are taken from the live tasks first (:func:`deploy.decommission_order`),
        and only then from those that have no task yet (the launches not made)."""
        live = [t for t in self._active_tasks(app) if not t.killing]
        count = min(len(live), max(old_n, len(live)) - new_n)   # old_n: live + scheduled
        if count <= 0:
            return
        now = self.clock.now()
        victims = deploy.decommission_order(app.spec, live)[:count]
        self._pending_kills.extend(self._mark_killing(t, now) for t in victims)

    def cancel_deployment(self, dep_id: str, force: bool) -> Deployment | None:
        """``DELETE /v2/deployments/{id}``: force → cancelled, no rollback (None);
        otherwise a rollback deployment. KeyError when unknown."""
        dep = self.deployments[dep_id]
        if force:
            self._cancel(dep)
            return None
        changes = {app: (copy.deepcopy(spec) if spec is not None else None)
                   for app, spec in dep.original.items()}
        return self.deploy(changes, force=True)

    def _progress(self) -> None:
        for dep in list(self.deployments.values()):
            while dep.current < len(dep.steps) and self._step_done(dep.steps[dep.current]):
                self.hub.publish("deployment_step_success", {"plan": self.deployment_json(dep),
                                                             "currentStep": self._step_json(dep)})
                dep.current += 1
            if dep.current >= len(dep.steps):
                self.deployments.pop(dep.id, None)
                self.hub.publish("deployment_success", {"id": dep.id,
                                                        "plan": self.deployment_json(dep)})

    def _step_done(self, step: list[tuple[str, str]]) -> bool:
        for action, app_id in step:
            if action == "StopApplication":
                if app_id in self.stopping or (app_id not in self.apps and self.app_tasks(app_id)):
                    return False
            else:
                app = self.apps.get(app_id)
                if app is not None and not deploy.app_ready(app.spec, app.config_version,
                                                            self._active_tasks(app)):
                    return False
        return True

    def _held(self, app_id: str) -> bool:
        return any(d.held(app_id) for d in self.deployments.values())

    # -- reconciliation --------------------------------------------------------------------

    def reconcile(self) -> None:
        """Decide kills (queued for :meth:`take_kills`) and launch counts; advance
        deployments."""
        with self.lock:
            now = self.clock.now()
            kills: list[tuple[str, str]] = []
            for app_id, app in self.apps.items():
                app.pending = 0
                if self._held(app_id):
                    continue
                plan = deploy.plan_app(app.spec, app.config_version, self._active_tasks(app))
                for task_id in plan.kill:
                    kills.append(self._mark_killing(self.tasks[task_id], now))
                app.pending = plan.launch if now >= app.launch_after else 0
            for app_id in list(self.stopping):
                if self._held(app_id):
                    continue
                live = self.app_tasks(app_id)
                if not live:
                    del self.stopping[app_id]
                kills += [self._mark_killing(t, now) for t in live if not t.killing]
            self._expunge(now)
            for task in self.tasks.values():       # --task_launch_timeout: never started
                if task.state == "TASK_STAGING" and not task.killing \
                        and now - task.launched >= self.task_launch_timeout_s:
                    kills.append(self._mark_killing(task, now))
            for task in self.tasks.values():       # kills Mesos did not act on: again
                if task.killing and task.kill_sent_at is not None \
                        and now - task.kill_sent_at >= KILL_RETRY_S:
                    kills.append(self._mark_killing(task, now))
            self._progress()
            self._observe_health()
            self._pending_kills.extend(kills)

    def _expunge(self, now: float) -> None:
        """Unreachable tasks past ``expungeAfterSeconds`` are forgotten (killed should
        they come back: an update of an unknown task is answered with a kill)."""
        for task in list(self.tasks.values()):
            app = self.apps.get(task.app_id) or self.stopping.get(task.app_id)
            strategy = app.spec["unreachableStrategy"] if app is not None else "disabled"
            if task.unreachable_since is not None and strategy != "disabled" \
                    and now - task.unreachable_since >= strategy["expungeAfterSeconds"]:
                del self.tasks[task.id]
                self._pending_kills.append((task.id, task.agent_id))

    def _mark_killing(self, task: Task, now: float) -> tuple[str, str]:
        task.killing, task.kill_sent_at = True, now
        return task.id, task.agent_id

    def _observe_health(self) -> None:
        for dep in self.deployments.values():
            for app_id in dep.affected:
                app = self.apps.get(app_id)
                if app is None:
                    continue
                healthy = deploy.healthy_count(app.spec, self._active_tasks(app))
                self.min_healthy[app_id] = min(self.min_healthy.get(app_id, healthy), healthy)

    def pending_launches(self) -> int:
        with self.lock:
            return sum(a.pending for a in self.apps.values())

    # -- offers and status updates ---------------------------------------------------------

    def match_offers(self, offers: list[dict[str, Any]], role: str = "*"
                     ) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
        """TaskInfos to launch per offer id, and the offer ids to decline."""
        with self.lock:
            launches: dict[str, list[dict[str, Any]]] = {}
            declines: list[str] = []
            for offer in offers:
                infos = self._fill_offer(offer, role)
                if infos:
                    launches[offer["id"]["value"]] = infos
                else:
                    declines.append(offer["id"]["value"])
            return launches, declines

    def _fill_offer(self, offer: dict[str, Any], role: str) -> list[dict[str, Any]]:
        avail = offer_scalars(offer)
        placement = {"hostname": offer.get("hostname"), "attributes": offer.get("attributes", []),
                     "domain": offer.get("domain")}
        agent_id = offer["agent_id"]["value"]
        infos: list[dict[str, Any]] = []
        for app_id in sorted(self.apps):
            app = self.apps[app_id]
            spec = app.spec
            while app.pending > 0:
                if avail["cpus"] + 1e-9 < spec["cpus"] or avail["mem"] + 1e-9 < spec["mem"] \
                        or avail["disk"] + 1e-9 < spec["disk"]:
                    break
                placed = [t.placement for t in self.app_tasks(app_id) if not t.killing]
                if not constraints_met(spec["constraints"], placement, placed):
                    break
                task = Task(new_task_id(app_id, self._uuid()), app_id, app.config_version,
                            spec["version"], agent_id, offer.get("hostname", ""), placement,
                            self.clock.wall(), self.clock.now())
                try:
                    info = build_task_info(spec, task.id, agent_id, self.secrets_dir, role)
                except SecretMissing as exc:
                    self._launch_failed(app, task, str(exc))
                    break
                self.tasks[task.id] = task
                for name in ("cpus", "mem", "disk"):
                    avail[name] -= spec[name]
                app.pending -= 1
                infos.append(info)
        return infos

    def launch_not_sent(self, task_ids: list[str]) -> None:
        """The ACCEPT never reached the master: those launches failed."""
        with self.lock:
            for task_id in task_ids:
                task = self.tasks.pop(task_id, None)
                app = self.apps.get(task.app_id) if task is not None else None
                if task is not None and app is not None:
                    self._launch_failed(app, task, "the launch could not be sent to the master")
            self.reconcile()

    def _launch_failed(self, app: App, task: Task, message: str) -> None:
        """A launch that never reached Mesos (e.g. a missing secret): TASK_FAILED."""
        task.state, task.message = "TASK_FAILED", message
        app.pending = 0
        self._publish_status(task)
        self._failed(app, task)

    def _failed(self, app: App, task: Task) -> None:
        """A task failure: the launch delay grows (RateLimiter)."""
        spec = app.spec
        delay = min(spec["backoffSeconds"] * spec["backoffFactor"] ** app.delay_n,
                    spec["maxLaunchDelaySeconds"])
        app.delay_n += 1
        app.launch_after = self.clock.now() + delay
        app.last_failure = {"appId": task.app_id, "host": task.host, "message": task.message,
                            "state": task.state, "taskId": task.id, "timestamp": self.now_iso(),
                            "version": task.version, "slaveId": task.agent_id}

    def on_status(self, status: dict[str, Any]) -> None:
        """A TaskStatus from Mesos (unknown live tasks are killed)."""
        with self.lock:
            task_id = status["task_id"]["value"]
            state = status["state"]
            task = self.tasks.get(task_id)
            if task is None:
                agent = (status.get("agent_id") or {}).get("value", "")
                if state not in TERMINAL:
                    self._pending_kills.append((task_id, agent))
                return
            task.state, task.message = state, status.get("message", "")
            if state == "TASK_UNREACHABLE":
                task.unreachable_since = task.unreachable_since or self.clock.now()
            else:
                task.unreachable_since = None
            if state == "TASK_RUNNING" and task.started_at is None:
                task.started_at = self.clock.wall()
            ips = [ip["ip_address"] for net in (status.get("container_status") or {}).get("network_infos", [])
                   for ip in net.get("ip_addresses", []) if ip.get("ip_address")]
            if ips:
                task.ips = ips
            if "healthy" in status:
                self._health(task, bool(status["healthy"]), task.message)
            self._publish_status(task)
            if state in TERMINAL:
                del self.tasks[task_id]
                app = self.apps.get(task.app_id) or self.stopping.get(task.app_id)
                # a task Marathon did not ask to end failed (health-check kills included)
                if app is not None and not task.killing:
                    self._failed(app, task)
            self.reconcile()

    def _health(self, task: Task, healthy: bool, message: str) -> None:
        now = self.now_iso()
        changed = task.healthy is not healthy
        task.healthy = healthy
        if healthy:
            task.consecutive_failures = 0
            task.first_success = task.first_success or now
            task.last_success = now
            app = self.apps.get(task.app_id)
            if app is not None:
                app.delay_n, app.launch_after = 0, 0.0
        else:
            task.consecutive_failures += 1
            task.last_failure, task.last_failure_cause = now, message
        if changed:
            self.hub.publish("health_status_changed_event", {
                "appId": task.app_id, "instanceId": task.instance_id, "taskId": task.id,
                "version": task.version, "alive": healthy})

    def _publish_status(self, task: Task) -> None:
        self.hub.publish("status_update_event", {
            "slaveId": task.agent_id, "taskId": task.id, "taskStatus": task.state,
            "message": task.message, "appId": task.app_id, "host": task.host,
            "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"} for ip in task.ips],
            "ports": [], "version": task.version})

    # -- REST: apps ------------------------------------------------------------------------

    def create_app(self, raw: Any, force: bool) -> tuple[dict[str, Any], Deployment]:
        with self.lock:
            spec = normalize_app(raw, "/", self.features)
            if spec["id"] in self.apps:
                raise AppInvalid(409, {"message": f"An app with id [{spec['id']}] already exists."})
            if spec["id"] in self.groups:
                raise AppInvalid(409, {"message": f"A group with id [{spec['id']}] already exists."})
            dep = self.deploy({spec["id"]: spec}, force)
            self.hub.publish("api_post_event", {"clientIp": "127.0.0.1", "uri": f"/v2/apps{spec['id']}",
                                                "appDefinition": self.apps[spec["id"]].spec})
            self.reconcile()
            return self.app_json(spec["id"]), dep

    def put_app(self, app_id: str, raw: Any, partial: bool, force: bool) -> tuple[Deployment, bool]:
        """(deployment, created)."""
        with self.lock:
            app_id = resolve(app_id)
            current = self.apps.get(app_id)
            if isinstance(raw, dict) and "version" in raw and current is not None:
                return self._rollback_app(app_id, raw, force), False
            if isinstance(raw, dict) and current is not None and partial:
                raw = merge_update(current.spec, raw)
            if isinstance(raw, dict):
                raw = dict(raw)
                raw["id"] = app_id
            spec = normalize_app(raw, "/", self.features)
            dep = self.deploy({app_id: spec}, force)
            self.hub.publish("api_post_event", {"clientIp": "127.0.0.1", "uri": f"/v2/apps{app_id}",
                                                "appDefinition": self.apps[app_id].spec})
            self.reconcile()
            return dep, current is None

    def _rollback_app(self, app_id: str, raw: dict[str, Any], force: bool) -> Deployment:
        version = raw["version"]
        if len(raw) > 1:
            raise not_valid([("/", ["Update must contain either a version or fields to change, "
                                    "not both"])])
        old = self.versions.get(app_id, {}).get(version)
        if old is None:
            raise not_valid([("/version", [f"Version {version} of app {app_id} does not exist"])])
        dep = self.deploy({app_id: copy.deepcopy(old)}, force)
        self.reconcile()
        return dep

    def restart_app(self, app_id: str, force: bool) -> Deployment:
        """``POST /v2/apps/{id}/restart``: every task replaced (upgrade strategy applies)."""
        with self.lock:
            app_id = resolve(app_id)
            if app_id not in self.apps:
                raise AppInvalid(404, {"message": f"App '{app_id}' does not exist"})
            dep = self.deploy({app_id: copy.deepcopy(self.apps[app_id].spec)}, force,
                              restart=[app_id])
            self.reconcile()
            return dep

    def app_versions(self, app_id: str) -> list[str] | None:
        with self.lock:
            app_id = resolve(app_id)
            if app_id not in self.apps:
                return None
            return sorted(self.versions.get(app_id, {}), reverse=True)

    def app_version(self, app_id: str, version: str) -> dict[str, Any] | None:
        with self.lock:
            spec = self.versions.get(resolve(app_id), {}).get(version)
            return copy.deepcopy(spec) if spec is not None else None

    def delete_app(self, app_id: str, force: bool) -> Deployment:
        with self.lock:
            app_id = resolve(app_id)
            if app_id not in self.apps:
                raise AppInvalid(404, {"message": f"App '{app_id}' does not exist"})
            dep = self.deploy({app_id: None}, force)
            self.reconcile()
            return dep

    def kill_tasks(self, ids: list[str], scale: bool, force: bool,
                   app_id: str | None = None) -> tuple[Deployment | None, list[dict[str, Any]]]:
        """Kill tasks by id; ``scale`` lowers each app's ``instances`` by its killed count
        in one deployment. Returns (deployment or None, killed tasks as JSON)."""
        with self.lock:
            for task_id in ids:
                if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
                    raise AppInvalid(400, {"message": f"Invalid task id '{task_id}'."})
            found = [self.tasks[t] for t in dict.fromkeys(ids) if t in self.tasks
                     and (app_id is None or self.tasks[t].app_id == app_id)]
            killed = [self.task_json(t) for t in found]
            dep = None
            now = self.clock.now()
            if scale:
                per_app: dict[str, int] = {}
                for task in found:
                    if not task.killing and task.app_id in self.apps:
                        per_app[task.app_id] = per_app.get(task.app_id, 0) + 1
                changes = {}
                for a, count in per_app.items():
                    spec = copy.deepcopy(self.apps[a].spec)
                    spec["instances"] = max(0, spec["instances"] - count)
                    changes[a] = spec
                # the named ones are the ones that go: the lower count takes no other
                dep = self.deploy(changes, force, decommission=False)
            self._pending_kills.extend(self._mark_killing(t, now) for t in found if not t.killing)
            self.reconcile()
            return dep, killed

    def take_kills(self) -> list[tuple[str, str]]:
        with self.lock:
            kills, self._pending_kills = self._pending_kills, []
            return kills

    # -- REST: groups ----------------------------------------------------------------------

    def _flatten_group(self, body: Any, gid: str, path: str, e: list[tuple[str, list[str]]],
                       out_apps: dict[str, dict[str, Any]], out_groups: dict[str, dict[str, Any]]
                       ) -> None:
        if not isinstance(body, dict):
            raise AppInvalid(422, {"message": "Invalid JSON",
                                   "details": [{"path": path or "/", "errors": ["error.expected.jsobject"]}]})
        unknown = set(body) - {"id", "apps", "groups", "dependencies", "version", "pods",
                               "enforceRole", "scaleBy"}
        if unknown:
            raise AppInvalid(422, {"message": "Invalid JSON", "details": [
                {"path": f"{path}/{k}", "errors": ["error.unknown.property"]} for k in sorted(unknown)]})
        deps = [resolve(d, gid) for d in body.get("dependencies") or []]
        out_groups[gid] = {"dependencies": deps, "apps": "apps" in body, "groups": "groups" in body}
        for i, raw in enumerate(body.get("apps") or []):
            try:
                spec = normalize_app(raw, gid, self.features)
            except AppInvalid as exc:
                if exc.status == 422:
                    for d in exc.body.get("details", []):
                        d["path"] = f"{path}/apps({i}){d['path'] if d['path'] != '/' else ''}"
                raise
            if parent(spec["id"]) != gid:
                e.append((f"{path}/apps({i})/id", [f"identifier {spec['id']} is not child of {gid}"]))
            out_apps[spec["id"]] = spec
        for i, sub in enumerate(body.get("groups") or []):
            sid = resolve(sub.get("id", ""), gid) if isinstance(sub, dict) else gid
            if isinstance(sub, dict) and not sub.get("id"):
                e.append((f"{path}/groups({i})/id", ["error.path.missing"]))
            self._flatten_group(sub, sid, f"{path}/groups({i})", e, out_apps, out_groups)

    def put_group(self, url_id: str, body: Any, force: bool, create: bool) -> Deployment:
        """``POST /v2/groups`` (create, 409 if it exists) or ``PUT /v2/groups/{id}``."""
        with self.lock:
            base = resolve(url_id)
            body_id = body.get("id") if isinstance(body, dict) else None
            gid = resolve(body_id, base) if body_id else base
            if create and gid in self.groups:
                raise AppInvalid(409, {"message": f"Group {gid} is already created. Use PUT to "
                                                  "change this group."})
            if isinstance(body, dict) and "version" in body:
                # a group rollback (GroupUpdate.version): not emulated
                raise not_valid([("/version", ["rolling a group back to a version is not "
                                               "supported by the emulator"])])
            errors: list[tuple[str, list[str]]] = []
            apps: dict[str, dict[str, Any]] = {}
            groups: dict[str, dict[str, Any]] = {}
            self._flatten_group(body, gid, "", errors, apps, groups)
            if errors:
                raise not_valid(errors)
            changes: dict[str, dict[str, Any] | None] = dict(apps)
            for g, info in groups.items():
                for app_id in list(self.apps):
                    if info["apps"] and parent(app_id) == g and app_id not in apps:
                        changes[app_id] = None
                    if info["groups"] and is_under(app_id, g) and parent(app_id) != g and \
                            not any(is_under(app_id, s) for s in groups if s != g):
                        changes[app_id] = None
            for app_id, spec in apps.items():
                cur = self.apps.get(app_id)
                if cur is not None and spec is not None and config_of(spec) == config_of(cur.spec) \
                        and spec["instances"] == cur.spec["instances"]:
                    changes.pop(app_id)     # unchanged: not part of the deployment
            dep = self.deploy(changes, force)
            for g, info in groups.items():
                entry = self.groups.setdefault(g, {"dependencies": [], "version": dep.version})
                entry["dependencies"], entry["version"] = info["dependencies"], dep.version
                self._ensure_groups(g, dep.version)
            self.hub.publish("group_change_success", {"groupId": gid, "version": dep.version})
            self.reconcile()
            return dep

    def delete_group(self, url_id: str, force: bool) -> Deployment:
        with self.lock:
            gid = resolve(url_id)
            if gid not in self.groups:
                raise AppInvalid(404, {"message": f"Group '{gid}' does not exist"})
            dep = self.deploy({a: None for a in self.apps if is_under(a, gid)}, force)
            for g in [g for g in self.groups if is_under(g, gid) and g != "/"]:
                del self.groups[g]
            self.reconcile()
            return dep

    # -- JSON views ------------------------------------------------------------------------

    def task_json(self, task: Task) -> dict[str, Any]:
        out: dict[str, Any] = {
            "appId": task.app_id, "id": task.id, "host": task.host, "slaveId": task.agent_id,
            "state": task.state,
            "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"} for ip in task.ips],
            "ports": [], "servicePorts": [], "stagedAt": iso(task.staged_at),
            "version": task.version, "localVolumes": []}
        if task.started_at is not None:
            out["startedAt"] = iso(task.started_at)
        app = self.apps.get(task.app_id) or self.stopping.get(task.app_id)
        if app is not None and app.spec["healthChecks"] and task.healthy is not None:
            out["healthCheckResults"] = [{
                "alive": task.healthy, "consecutiveFailures": task.consecutive_failures,
                "firstSuccess": task.first_success, "lastSuccess": task.last_success,
                "lastFailure": task.last_failure, "lastFailureCause": task.last_failure_cause,
                "instanceId": task.instance_id}]
        elif app is not None and app.spec["healthChecks"]:
            out["healthCheckResults"] = []
        return out

    def tasks_json(self, app_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.task_json(t) for t in sorted(self.app_tasks(resolve(app_id)),
                                                      key=lambda t: t.staged_at)]

    def app_json(self, app_id: str, embed_tasks: bool = False) -> dict[str, Any] | None:
        with self.lock:
            app = self.apps.get(resolve(app_id))
            if app is None:
                return None
            spec = copy.deepcopy(app.spec)
            tasks = self.app_tasks(app.spec["id"])
            mesos_check = deploy.has_mesos_check(spec)
            spec["tasksStaged"] = sum(1 for t in tasks if t.state in ("TASK_STAGING", "TASK_STARTING"))
            spec["tasksRunning"] = sum(1 for t in tasks if t.state == "TASK_RUNNING")
            spec["tasksHealthy"] = sum(1 for t in tasks if t.healthy is True) if mesos_check else 0
            spec["tasksUnhealthy"] = sum(1 for t in tasks if t.healthy is False) if mesos_check else 0
            spec["deployments"] = [{"id": d.id} for d in self._holding([spec["id"]])]
            if app.last_failure is not None:
                spec["lastTaskFailure"] = dict(app.last_failure)
            if embed_tasks:
                spec["tasks"] = self.tasks_json(spec["id"])
            return spec

    def apps_json(self, prefix: str | None, embed_tasks: bool) -> list[dict[str, Any]]:
        with self.lock:
            ids = sorted(a for a in self.apps if prefix is None or prefix in a)
            return [self.app_json(a, embed_tasks) for a in ids]  # type: ignore[misc]

    def group_json(self, gid: str, embed_apps: bool = True) -> dict[str, Any] | None:
        with self.lock:
            gid = resolve(gid)
            group = self.groups.get(gid)
            if group is None:
                return None
            depth = len(segments(gid))
            subgroups = sorted(g for g in self.groups if g != gid and is_under(g, gid)
                               and len(segments(g)) == depth + 1)
            apps = sorted(a for a in self.apps if parent(a) == gid)
            return {"id": gid,
                    "apps": [self.app_json(a) for a in apps] if embed_apps else [],
                    "groups": [self.group_json(g, embed_apps) for g in subgroups],
                    "pods": [], "dependencies": list(group["dependencies"]),
                    "version": group["version"]}

    def _step_json(self, dep: Deployment) -> dict[str, Any]:
        step = dep.steps[dep.current] if dep.current < len(dep.steps) else []
        return {"actions": [{"action": a, "app": app} for a, app in step]}

    def deployment_json(self, dep: Deployment) -> dict[str, Any]:
        current = dep.steps[dep.current] if dep.current < len(dep.steps) else []
        return {"id": dep.id, "version": dep.version, "affectedApps": dep.affected,
                "affectedPods": [],
                "steps": [{"actions": [{"action": a, "app": app} for a, app in step]}
                          for step in dep.steps],
                "currentActions": [{"action": a, "app": app, "readinessCheckResults": []}
                                   for a, app in current],
                "currentStep": min(dep.current + 1, len(dep.steps)),
                "totalSteps": len(dep.steps)}

    def deployments_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.deployment_json(d) for d in self.deployments.values()]
