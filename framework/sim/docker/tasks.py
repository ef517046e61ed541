"""One Docker task of an emulated agent, and the work done on it in the runner's pools.

:class:`DockerTask` is the record (guarded by its own lock); :class:`TaskWorker` launches,
kills, probes and reaps tasks and makes their reports, in order, under the task's lock
(:meth:`TaskWorker.emit`). The :class:`~.runner.DockerTaskRunner` owns the task
table, the thread pools and the watcher, and calls the worker from pool threads only.
Durations are seconds; ``clock`` is monotonic.
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import docker
import docker.errors

from ...mesos.protocol import TaskState
from .health import HEALTH_UPDATED, HealthCheck, HealthState, probe
from .objects import (AGENT_LABEL, OWNER_LABEL, RUNNER_LABEL, TASK_LABEL, NetworkPool,
                             exit_status, explain, remove_container)
from .translate import LAUNCH_FAILED, ContainerPlan, LaunchError, plan_container
from .fetcher import FetchError, fetch_all
from ..runner import AgentInfo, StatusSink, TaskReport

log = logging.getLogger(__name__)


@dataclass(eq=False)
class DockerTask:
    """A task on one agent; fields after ``lock`` change only under it."""

    agent: AgentInfo
    task_id: str
    info: dict[str, Any]
    sink: StatusSink
    name: str                         # container name
    sandbox: Path                     # host directory bound at SANDBOX
    lock: threading.RLock = field(default_factory=threading.RLock)
    state: TaskState = TaskState.STAGING
    phase: str = "launching"          # launching → running (→ exiting) → done
    container_id: str | None = None
    network: str | None = None        # Docker network whose IP we report
    ip: str | None = None
    killing: bool = False
    silent: bool = False              # agent lost / runner closed: no more reports
    health: HealthState | None = None
    cut: bool = False                 # its agent is partitioned: off the network (is) …
    want_cut: bool = False            # … (should be; apply_cut makes it so)
    net_lock: threading.Lock = field(default_factory=threading.Lock)   # one change at once

    def checkable(self) -> bool:
        """Under ``lock``: a health check may be scheduled (none queued or running). Not
        while cut off: the agent checks from inside the task's network namespace (Mesos'
        MESOS_HTTP checks go to the task's own address there), which a partition leaves
        alone; from the host we cannot, so the last result stands."""
        return (self.health is not None and not self.health.probing and not self.cut
                and not self.want_cut and self.phase == "running" and not self.killing
                and not self.silent)


def slug(text: str, limit: int = 60) -> str:
    """``text`` made safe for container names and paths (hash-suffixed if changed)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if safe != text or len(safe) > limit:
        safe = safe[:limit] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return safe


def host_name(text: str) -> str:
    """``text`` as a valid DNS name: letters, digits, ``-`` and dots, no label over 63
    characters (long ones cut and hash-suffixed). Docker's embedded DNS answers a
    container's address with its name; an invalid host name (``_`` in it, or a label over
    63 characters: Marathon's task ids give both) is dropped by glibc, which then asks
    upstream — a 10 s wait per reverse lookup, blocking a collector that authenticates a
    daemon. Mesos itself names containers ``mesos-<uuid>``."""
    labels = []
    for label in re.sub(r"[^A-Za-z0-9.-]", "-", text).split("."):
        if len(label) > 63:
            label = label[:54] + "-" + hashlib.sha1(label.encode()).hexdigest()[:8]
        labels.append(label.strip("-") or "x")
    return ".".join(labels)


@dataclass(frozen=True)
class LaunchOptions:
    """How a runner turns TaskInfos into containers (see :class:`DockerTaskRunner`)."""

    extra_volumes: tuple[str, ...] = ()
    image_map: dict[str, str] = field(default_factory=dict)
    apply_limits: bool = True
    default_kill_grace_s: float = 5.0


class TaskWorker:
    """The launch / kill / exit / probe work of one runner; every method runs in a pool.

    ``submit(fn, *args)`` queues more work (a health kill); ``forget(task)`` drops a task
    that reached a terminal state from the runner's table.
    """

    def __init__(self, client: docker.DockerClient, runner_id: str, options: LaunchOptions,
                 networks: NetworkPool, clock: Callable[[], float],
                 submit: Callable[..., None], forget: Callable[[DockerTask], None]) -> None:
        self.client, self.api, self.runner_id = client, client.api, runner_id
        self.options, self.networks, self.clock = options, networks, clock
        self._submit, self._forget = submit, forget

    def emit(self, task: DockerTask, state: TaskState, message: str = "",
             reason: str | None = None, healthy: bool | None = None) -> None:
        """Report under ``task.lock`` (callers hold it); drop anything after a terminal."""
        if task.silent or task.state.terminal:
            return
        if state == TaskState.KILLING and task.state == TaskState.KILLING:
            return
        task.state = state
        if state.terminal:
            task.phase = "done"
            self._forget(task)
        report = TaskReport(task.task_id, state, message, reason,
                            task.ip if state == TaskState.RUNNING else None, healthy)
        try:
            task.sink.report(task.agent.agent_id, report)
        except Exception:                         # noqa: BLE001 - a sink bug must not stop us
            log.exception("status sink failed on %s %s", task.task_id, state.name)

    def launch(self, task: DockerTask) -> None:
        """STAGING → STARTING → RUNNING (or FAILED / KILLED); the container runs after."""
        with task.lock:
            if task.killing or task.silent:       # killed (or lost) before we began
                self._abort_launch(task, "")
                return
            try:
                task.sandbox.mkdir(parents=True, exist_ok=True)
                labels = {OWNER_LABEL: "1", RUNNER_LABEL: self.runner_id,
                          AGENT_LABEL: task.agent.agent_id, TASK_LABEL: task.task_id}
                opts = self.options
                plan = plan_container(task.info, name=task.name, labels=labels,
                                      sandbox=task.sandbox, extra_volumes=opts.extra_volumes,
                                      image_map=opts.image_map, apply_limits=opts.apply_limits)
                if task.info.get("health_check"):
                    task.health = HealthState(HealthCheck.parse(task.info["health_check"]))
            except (LaunchError, KeyError, TypeError, ValueError) as exc:
                self.emit(task, TaskState.FAILED, f"invalid task: {exc}",
                          getattr(exc, "reason", LAUNCH_FAILED))
                return
        uris = (task.info.get("command") or {}).get("uris") or []
        if uris:                                  # the agent fetches before any container
            try:
                fetch_all(task.sandbox, uris)
            except FetchError:
                with task.lock:
                    self.emit(task, TaskState.FAILED, "Failed to launch container: Failed to "
                              f"fetch all URIs for container '{task.name}': exited with "
                              "status 1", LAUNCH_FAILED)
                return
        with task.lock:
            if task.killing or task.silent:
                self._abort_launch(task, "")
                return
            self.emit(task, TaskState.STARTING)
        try:
            attrs = self._start(task, plan)
        except (LaunchError, docker.errors.DockerException) as exc:
            with task.lock:
                self._abort_launch(task, explain(exc))
            return
        with task.lock:
            if attrs is None or task.killing or task.silent:
                self._abort_launch(task, "")
                return
            nets = attrs.get("NetworkSettings", {}).get("Networks") or {}
            task.ip = (nets.get(task.network) or {}).get("IPAddress") or None
            if not attrs.get("State", {}).get("Running"):
                task.phase = "running"            # exited already: the watcher reports it
                return
            task.phase, now = "running", self.clock()
            if task.health is not None:
                task.health.start(now)
            self.emit(task, TaskState.RUNNING)
            if task.want_cut:                     # its agent was cut off while it started
                self._submit(self.apply_cut, task)

    def _start(self, task: DockerTask, plan: ContainerPlan) -> dict[str, Any] | None:
        """Create and start the container; its inspect data, or None if overtaken by a
        kill or agent loss. Raises Docker or launch errors."""
        for attempt in (1, 2):
            kwargs = dict(plan.kwargs)
            if plan.network_mode == "user":
                task.network = self.networks.get(task.agent, plan.user_network or "")
                kwargs["network"] = task.network
                if plan.ipv4_address or plan.aliases:
                    ip = plan.ipv4_address or ""
                    kwargs["networking_config"] = {task.network: self.api.create_endpoint_config(
                        ipv4_address=ip if ip and ":" not in ip else None,
                        ipv6_address=ip if ":" in ip else None,
                        aliases=list(plan.aliases) or None)}
            elif plan.network_mode == "bridge":
                task.network = "bridge"
            container = self.client.containers.create(plan.image, **kwargs)
            with task.lock:
                task.container_id = container.id
                if task.killing or task.silent:
                    return None
            try:
                container.start()
            except docker.errors.NotFound as exc:
                # The network we cached was removed meanwhile (e.g. by another runner's
                # close(), which removes the networks it made): make it again, once.
                if attempt == 2 or plan.network_mode != "user" or "network" not in explain(exc):
                    raise
                with task.lock:
                    remove_container(self.api, container.id)
                    task.container_id = None
                self.networks.forget(task.network or "")
                continue
            return self.api.inspect_container(container.id)
        return None

    def _abort_launch(self, task: DockerTask, error: str) -> None:
        """Under ``task.lock``: launch failed or was overtaken by kill / agent loss."""
        remove_container(self.api, task.container_id)
        if task.killing:
            self.emit(task, TaskState.KILLING)
            self.emit(task, TaskState.KILLED, "killed during launch",
                      "REASON_TASK_KILLED_DURING_LAUNCH")
        elif not task.silent:
            self.emit(task, TaskState.FAILED, f"container launch failed: {error}", LAUNCH_FAILED)

    def kill(self, task: DockerTask, grace_s: float | None, by_health: bool) -> None:
        """KILLING, ``docker stop`` with ``grace_s`` (None or < 0: the task's kill_policy,
        else the default), then KILLED."""
        with task.lock:
            if task.phase in ("exiting", "done") or task.silent or task.killing:
                return
            task.killing = True
            if task.phase == "launching":         # the launch worker finishes the kill
                return
            self.emit(task, TaskState.KILLING)
            container_id = task.container_id
        if grace_s is None or grace_s < 0:
            nanos = ((task.info.get("kill_policy") or {}).get("grace_period") or {}).get("nanoseconds")
            grace_s = float(nanos) / 1e9 if nanos is not None else self.options.default_kill_grace_s
        message = "container stopped"
        try:
            self.api.stop(container_id, timeout=int(math.ceil(grace_s)))
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            message = f"docker stop failed ({explain(exc)}); container removed by force"
        remove_container(self.api, container_id)
        with task.lock:
            if by_health:
                failures = task.health.failures if task.health is not None else 0
                self.emit(task, TaskState.KILLED,
                          f"killed after {failures} consecutive failed health checks",
                          healthy=False)
            else:
                self.emit(task, TaskState.KILLED, message)

    def apply_cut(self, task: DockerTask) -> None:
        """Make the task's network as its agent's partition wants (``want_cut``): cut off,
        its interface goes down in its network namespace — it runs on and keeps its
        address, as a cut-off host's workloads keep theirs in Calico's IPAM, so nobody
        else may take it meanwhile; healed, the interface comes back up with its default
        route and its health checks resume at once. One change at a time per task, the
        latest wish wins (a heal may overtake its cut)."""
        with task.net_lock:
            with task.lock:
                want = task.want_cut
                if want == task.cut or task.network in (None, "bridge") \
                        or task.container_id is None or task.silent:
                    return
            problem = netns_link(self.api, task, up=not want)
            if problem:
                log.warning("task %s: cannot %s %s: %s", task.task_id,
                            "leave" if want else "rejoin", task.network, problem)
            else:
                log.info("task %s %s %s", task.task_id, "cut off from" if want else "back on",
                         task.network)
            with task.lock:
                task.cut = want
                if not want and task.health is not None:
                    task.health.next_check = self.clock()

    def remove_quietly(self, tasks: list[DockerTask]) -> None:
        """Remove the containers of silenced tasks (agent lost), reporting nothing."""
        for task in tasks:
            with task.lock:
                container_id = task.container_id
            remove_container(self.api, container_id)

    def exited(self, task: DockerTask, gone: bool) -> None:
        """The container of a running task stopped by itself (or vanished); phase "exiting"."""
        state, message, reason = exit_status(self.api, task.container_id, gone)
        if not gone:
            remove_container(self.api, task.container_id)
        with task.lock:
            self.emit(task, state, message, reason)

    def probe(self, task: DockerTask) -> None:
        """Run one health check (queued by the watcher) and act on its result."""
        health = task.health
        assert health is not None
        ok, detail = probe(self.api, health.check, task.ip, task.container_id or "")
        now = self.clock()
        with task.lock:
            health.probing, health.next_check = False, now + health.check.interval_s
            if task.phase != "running" or task.killing or task.silent or task.cut \
                    or task.want_cut:
                return      # (a probe that overlapped a cut tells nothing)
            change, kill = health.record(ok, now)
            if change is not None:
                self.emit(task, TaskState.RUNNING, detail, HEALTH_UPDATED, healthy=change)
        if kill:
            self._submit(self.kill, task, None, True)


def netns_link(api: Any, task: DockerTask, up: bool) -> str | None:
    """Bring the container's interface on ``task.network`` down or up (then restore its
    default route through the network's gateway), from the host in the container's
    network namespace (``nsenter -n`` + ``ip``); None, or what went wrong."""
    try:
        attrs = api.inspect_container(task.container_id)
    except docker.errors.DockerException as exc:
        return explain(exc)
    pid = (attrs.get("State") or {}).get("Pid") or 0
    net = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(task.network or "")
    if not pid or not net or not net.get("IPAddress"):
        return f"container not running on {task.network}"
    enter = ["nsenter", "-t", str(pid), "-n", "ip"]
    try:
        shown = subprocess.run(enter + ["-o", "-4", "addr", "show"], capture_output=True,
                               text=True, timeout=10, check=True).stdout
        iface = next((line.split()[1] for line in shown.splitlines()
                      if f" {net['IPAddress']}/" in line), None)
        if iface is None:
            return f"no interface holds {net['IPAddress']}"
        subprocess.run(enter + ["link", "set", iface, "up" if up else "down"],
                       capture_output=True, text=True, timeout=10, check=True)
        if up and net.get("Gateway"):
            subprocess.run(enter + ["route", "replace", "default", "via", net["Gateway"],
                                    "dev", iface], capture_output=True, text=True,
                           timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        return f"{exc} {detail}".strip()
    return None
