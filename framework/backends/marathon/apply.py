"""Idempotent apply: make Marathon's group what the spec renders, then watch it deploy.

:func:`plan_apply` (pure, in :mod:`.plan`) says what would change; :func:`apply` is the
one place that writes. Nothing to change → no write call at all, so ``apply`` can run
from cron or CI as often as anyone likes.

The write is one request for the whole group, never per-app PUTs:

* a group that does not exist is created by ``POST /v2/groups`` (Marathon orders the
  deployment by ``dependencies``: the master runs and is healthy before the submitter
  and executors start);
* a group that exists is replaced by ``PUT /v2/groups/<id>`` with the whole desired
  group: one deployment, one lock, one progress to watch; Marathon restarts only the apps
  whose definition changed, still orders them by ``dependencies``, and drops the apps the
  body does not list (a removed site) in the same step. Per-app PUTs would start one
  deployment each, the second could meet the first's lock (409) and removals would need
  their own DELETEs between them.

The whole group carries each executor app's ``instances`` as read just before (the
autoscaler's; a group PUT replaces each listed app whole). A lower count would let
Marathon kill executors of its choosing, so before every write — and again after waiting
out a lock, which is often the autoscaler's own raise — the group is read again and the
plan made anew (:func:`_fresh`). The moment between that read and the write remains.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import MarathonError, MarathonInvalid, MarathonLocked, MarathonNotFound
from .client import Deployment, MarathonClient
from .plan import ApplyPlan, AppChange, plan_apply  # noqa: F401 - the module's API

Echo = Callable[[str], None]
_APP_PATH = re.compile(r"^/apps\((\d+)\)")
_EVENTS = ("event_stream_attached", "deployment_success", "deployment_failed")


@dataclass(frozen=True)
class ApplyResult:
    """How an apply ended: ``ok`` (exit 0) or not, the deployment, and a sentence."""

    ok: bool
    deployment: Deployment | None
    message: str


class DeploymentEvents:
    """``deployment_success`` / ``deployment_failed`` ids from Marathon's event stream,
    followed in a thread (polling ``/v2/deployments`` alone cannot tell success from
    failure: both leave the list). Best effort: without a stream the apps decide."""

    def __init__(self, client: MarathonClient, attach_s: float = 2.0) -> None:
        self.ended: dict[str, str] = {}
        self.available = True
        self._stop, self._attached = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._follow, args=(client,),
                                        name="marathon-deployment-events", daemon=True)
        self._thread.start()
        self._attached.wait(attach_s)

    def _follow(self, client: MarathonClient) -> None:
        try:
            for kind, data in client.events(_EVENTS, stop=self._stop):
                self._attached.set()
                if kind in ("deployment_success", "deployment_failed") and isinstance(data, dict):
                    plan = data.get("plan") or {}
                    dep_id = data.get("id") or plan.get("id")
                    if dep_id:
                        self.ended[str(dep_id)] = kind
        except MarathonError:
            self.available = False
        finally:
            self._attached.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def name_apps(exc: MarathonInvalid, group: dict[str, Any]) -> MarathonInvalid:
    """Marathon names fields of a group's apps ``/apps(2)/instances``: say which app."""
    ids = [a.get("id", "?") for a in group.get("apps", [])]
    owners, details = set(), []
    for path, errors in exc.details:
        m = _APP_PATH.match(path)
        if m and int(m[1]) < len(ids):
            owners.add(ids[int(m[1])])
            details.append((ids[int(m[1])], path[m.end():] or "/", errors))
        else:
            owners.add(None)
            details.append((None, path, errors))
    if len(owners) == 1 and None not in owners:
        return MarathonInvalid(exc.status, exc.message, exc.body,
                               [(p, e) for _, p, e in details], next(iter(owners)))
    return MarathonInvalid(exc.status, exc.message, exc.body,
                           [((f"{o}{p}" if o else p), e) for o, p, e in details],
                           exc.what or group.get("id", ""))


def _wait_unlocked(client: MarathonClient, ids: list[str], deadline: float, echo: Echo,
                   clock: Callable[[], float], sleep: Callable[[float], None],
                   poll_s: float) -> bool:
    """Wait until none of deployments ``ids`` is listed (any, if ``ids`` is empty)."""
    echo(f"locked by deployment(s) {', '.join(ids) or '(unnamed)'}; waiting for "
         f"{'them' if len(ids) != 1 else 'it'} to finish (--force would cancel)")
    while clock() < deadline:
        running = {d.get("id") for d in client.deployments()}
        if not (running & set(ids) if ids else running):
            return True
        sleep(poll_s)
    return False


def _fresh(client: MarathonClient, plan: ApplyPlan) -> ApplyPlan:
    """The plan again, on the group as it is now (executor ``instances`` the autoscaler
    may have raised since the plan was made are kept)."""
    return plan_apply(plan.desired, client.get_group(plan.group_id))


_UNCHANGED = Deployment("", "")


def _write(client: MarathonClient, plan: ApplyPlan, force: bool, deadline: float,
           echo: Echo, clock: Callable[[], float], sleep: Callable[[float], None],
           poll_s: float) -> Deployment | None:
    """The one write (retried after a lock, on a fresh plan); None when the lock outlasted
    ``deadline``; :data:`_UNCHANGED` when, after a wait, nothing is left to change."""
    plan = _fresh(client, plan)
    while True:
        if not plan.changed:
            return _UNCHANGED
        try:
            if plan.create_group:
                return client.create_group(plan.desired)
            return client.put_group(plan.group_id, plan.desired, force=force)
        except MarathonLocked as exc:
            if not (plan.create_group and not exc.deployments):  # not: created meanwhile
                if not _wait_unlocked(client, exc.deployments, deadline, echo, clock,
                                      sleep, poll_s):
                    return None
            plan = _fresh(client, plan)
        except MarathonInvalid as exc:
            raise name_apps(exc, plan.desired) from None


def _app_line(client: MarathonClient, app_id: str) -> str:
    try:
        app = client.get_app(app_id)
    except MarathonNotFound:
        app = None
    if app is None:
        return f"{app_id}: (gone)"
    n = app.get("instances", 0)
    return (f"{app_id}: running {app.get('tasksRunning', 0)}/{n}, "
            f"healthy {app.get('tasksHealthy', 0)}/{n}")


def progress_lines(client: MarathonClient, dep: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, line): the deployment's step and current actions, then each affected app's
    running / healthy tasks against its instances."""
    actions = ", ".join(f"{a.get('action')} {a.get('app')}"
                        for a in dep.get("currentActions") or [])
    head = (f"deployment {dep.get('id')}: step {dep.get('currentStep', '?')}/"
            f"{dep.get('totalSteps', '?')}: {actions or 'waiting'}")
    return [(f"deployment {dep.get('id')}", head)] + [
        (str(a), "  " + _app_line(client, a)) for a in dep.get("affectedApps") or []]


def _ours(dep: dict[str, Any], deployment: Deployment | None, group_id: str) -> bool:
    if deployment is not None and deployment.id:
        return dep.get("id") == deployment.id
    return any(str(a).startswith(group_id + "/") for a in dep.get("affectedApps") or [])


def watch(client: MarathonClient, deployment: Deployment | None, group_id: str,
          deadline: float, echo: Echo, clock: Callable[[], float],
          sleep: Callable[[float], None], poll_s: float,
          events: DeploymentEvents | None = None) -> ApplyResult:
    """Show progress until the deployment leaves ``/v2/deployments`` (success), fails
    (``deployment_failed``) or ``deadline`` passes (failure: it goes on in Marathon)."""
    shown: dict[str, str] = {}         # what was last shown per deployment and app
    dep_id = deployment.id if deployment is not None else ""
    while True:
        if events is not None and events.ended.get(dep_id) == "deployment_failed":
            return ApplyResult(False, deployment, f"deployment {dep_id} failed; see its "
                                                  f"apps' lastTaskFailure in Marathon")
        mine = [d for d in client.deployments() if _ours(d, deployment, group_id)]
        if not mine:
            if events is not None and dep_id:
                end = clock() + 1.0      # the event may trail the list by a moment
                while dep_id not in events.ended and events.available and clock() < end:
                    sleep(min(poll_s, 0.05))
                if events.ended.get(dep_id) == "deployment_failed":
                    return ApplyResult(False, deployment, f"deployment {dep_id} failed")
            return ApplyResult(True, deployment, f"{group_id}: deployed")
        for d in mine:
            for key, line in progress_lines(client, d):
                if shown.get(key) != line:
                    echo(line)
                    shown[key] = line
        if clock() >= deadline:
            return ApplyResult(False, deployment,
                               f"deployment {dep_id or '(unnamed)'} not finished in time; it "
                               f"goes on in Marathon (htcmesos marathon status shows it)")
        sleep(poll_s)


def apply(client: MarathonClient, plan: ApplyPlan, *, force: bool = False, wait: bool = True,
          timeout_s: float = 600, echo: Echo = print,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, poll_s: float = 1.0) -> ApplyResult:
    """Write ``plan`` (nothing if unchanged); with ``wait``, follow the deployment.
    ``force`` cancels deployments that hold the group: only when the operator asks.
    Raises :class:`MarathonInvalid` (field by field) when Marathon refuses the group."""
    if not plan.changed:
        return ApplyResult(True, None, f"{plan.group_id}: nothing to change")
    deadline = clock() + timeout_s
    events = DeploymentEvents(client) if wait else None
    try:
        deployment = _write(client, plan, force, deadline, echo, clock, sleep, poll_s)
        if deployment is None:
            return ApplyResult(False, None, f"{plan.group_id} stayed locked by other "
                                            f"deployments for {timeout_s:g} s; nothing "
                                            f"written (--force cancels them)")
        if deployment is _UNCHANGED:
            return ApplyResult(True, None, f"{plan.group_id}: nothing to change")
        echo(f"deployment {deployment.id or '(unnamed)'} started (version "
             f"{deployment.version or '?'})")
        if not wait:
            return ApplyResult(True, deployment, f"deployment {deployment.id} started")
        return watch(client, deployment, plan.group_id, deadline, echo, clock, sleep, poll_s,
                     events)
    finally:
        if events is not None:
            events.close()
