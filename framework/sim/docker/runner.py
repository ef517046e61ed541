"""Run Mesos Docker TaskInfos as real containers on a local Docker engine.

:class:`DockerTaskRunner` is the :class:`~framework.sim.runner.TaskRunner` of emulated
agents in Docker mode. It does what the Mesos Docker containerizer and executor do, on one
engine shared by all emulated agents:

- the TaskInfo becomes one container (:func:`~.translate.plan_container`: image,
  command, environment, volumes, sandbox, limits, docker ``parameters``);
- network ``USER``: ``network_infos[0].name`` becomes a Docker bridge network of that
  name with the agent's CIDR (``AgentInfo.networks``), created on first use (a stand-in
  for Calico, :class:`~.objects.NetworkPool`);
- reports STARTING → RUNNING (with the container IP) → FINISHED / FAILED; health changes
  (:mod:`.health`) as RUNNING with ``healthy`` set; KILLING → KILLED on kill, and
  after ``consecutive_failures`` failed health checks (with ``healthy=false``, as Mesos
  does). A task that cannot be translated (bad parameter, unknown network) goes straight
  from STAGING to FAILED; a Docker error after STARTING is FAILED with
  ``REASON_CONTAINER_LAUNCH_FAILED`` and Docker's message.

Threads: one watcher (lists this runner's containers every ``poll_s`` s to see exits, and
schedules health checks) plus two small pools (launch/kill work; health probes). Reports
for one task are made in order under that task's lock; ``launch``/``kill``/``lose_agent``
only queue work, so they return at once and never wait on a lock held during a report.
Durations are seconds; ``clock`` is monotonic.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import docker

from .firewall import SiteFirewall
from .health import HEALTH_UPDATED, HealthCheck, probe
from .objects import (AGENT_LABEL, LOG_LINES, OWNER_LABEL, RUNNER_LABEL, TASK_LABEL,
                             NetworkPool, remove_container, remove_emulator_objects,
                             runner_containers)
from .tasks import DockerTask, LaunchOptions, TaskWorker, host_name, slug
from .translate import (LAUNCH_FAILED, PARAMETERS, SANDBOX, ContainerPlan, LaunchError,
                               plan_container)
from ..runner import AgentInfo, StatusSink, TaskRunner

__all__ = ["AGENT_LABEL", "HEALTH_UPDATED", "LAUNCH_FAILED", "LOG_LINES", "OWNER_LABEL",
           "PARAMETERS", "RUNNER_LABEL", "SANDBOX", "TASK_LABEL", "ContainerPlan",
           "DockerTaskRunner", "HealthCheck", "LaunchError", "plan_container", "probe",
           "remove_emulator_objects"]

log = logging.getLogger(__name__)


class DockerTaskRunner(TaskRunner):
    """Runs TaskInfos of emulated agents as containers on the engine behind ``client``.

    ``extra_volumes``: binds (``"host:container[:ro]"``) added to every container, e.g.
    ``("/usr:/usr:ro",)`` to run real role TaskInfos on the tiny test image;
    ``image_map``: image name substitutions (TaskInfo image → local image);
    ``default_kill_grace_s``: grace when neither the kill nor ``kill_policy`` gives one;
    ``firewall``: iptables rules between the site networks (:mod:`.firewall`).
    """

    def __init__(self, client: docker.DockerClient, *, poll_s: float = 0.25,
                 workers: int = 4, check_workers: int = 4, default_kill_grace_s: float = 5.0,
                 extra_volumes: tuple[str, ...] = (), image_map: dict[str, str] | None = None,
                 apply_limits: bool = True, sandbox_root: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic, firewall: bool = True) -> None:
        self.client, self.api = client, client.api
        self.runner_id = uuid.uuid4().hex[:10]
        self.poll_s, self.clock = poll_s, clock
        self.options = LaunchOptions(tuple(extra_volumes), dict(image_map or {}), apply_limits,
                                     default_kill_grace_s)
        self._own_sandbox = sandbox_root is None
        self.sandbox_root = Path(sandbox_root or tempfile.mkdtemp(prefix="htcm-sandbox-"))
        self._lock = threading.Lock()             # guards _tasks; never held on I/O
        self._tasks: dict[tuple[str, str], DockerTask] = {}
        self.firewall = SiteFirewall(self.runner_id) if firewall else None
        self._networks = NetworkPool(client, self.runner_id, self.firewall)
        self._worker = TaskWorker(client, self.runner_id, self.options, self._networks, clock,
                                  self._submit, self._forget)
        self._ops = ThreadPoolExecutor(workers, thread_name_prefix=f"docker-runner-{self.runner_id}")
        self._probes = ThreadPoolExecutor(check_workers, thread_name_prefix="docker-health")
        self._stop = threading.Event()
        self._closed = False
        self.kept_networks: list[str] = []       # networks close() could not remove
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name=f"docker-watch-{self.runner_id}")
        self._watcher.start()

    # -- TaskRunner ----------------------------------------------------------------------

    def launch(self, agent: AgentInfo, task_info: dict[str, Any], sink: StatusSink) -> None:
        task_id = str((task_info.get("task_id") or {}).get("value", ""))
        name = host_name(f"htcm-{self.runner_id}-{slug(agent.agent_id, 20)}-{slug(task_id)}")
        task = DockerTask(agent, task_id, task_info, sink, name,
                          self.sandbox_root / slug(agent.agent_id) / slug(task_id))
        with self._lock:
            duplicate = (agent.agent_id, task_id) in self._tasks
            if not duplicate and not self._closed:
                self._tasks[(agent.agent_id, task_id)] = task
        if duplicate:
            log.warning("task %s is already running on %s: launch ignored", task_id, agent.agent_id)
            return
        if self._closed:
            return
        self._submit(self._worker.launch, task)

    def kill(self, agent: AgentInfo, task_id: str, grace_s: float, sink: StatusSink) -> None:
        with self._lock:
            task = self._tasks.get((agent.agent_id, task_id))
        if task is None:
            log.info("kill of unknown or finished task %s on %s ignored", task_id, agent.agent_id)
            return
        self._submit(self._worker.kill, task, grace_s, False)

    def lose_agent(self, agent: AgentInfo) -> None:
        with self._lock:
            lost = [t for (aid, _), t in self._tasks.items() if aid == agent.agent_id]
            for task in lost:
                del self._tasks[(task.agent.agent_id, task.task_id)]
        for task in lost:
            task.silent = True                    # plain store: no lock on the caller's thread
        if lost:
            self._submit(self._worker.remove_quietly, lost)

    def partition(self, agent: AgentInfo, cut: bool) -> None:
        """The agent's containers leave their networks (``cut``) or rejoin them, each at
        its own address; they run on either way (:meth:`TaskWorker.apply_cut`)."""
        with self._lock:
            tasks = [t for (aid, _), t in self._tasks.items() if aid == agent.agent_id]
        for task in tasks:
            with task.lock:
                task.want_cut = cut
            self._submit(self._worker.apply_cut, task)

    def close(self) -> None:
        """Remove every container and network this runner made; stop its threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for task in tasks:
            task.silent = True
        self._stop.set()
        self._watcher.join(timeout=10)
        self._sweep()                              # speeds up kills still waiting on grace
        self._ops.shutdown(wait=True, cancel_futures=True)
        self._probes.shutdown(wait=True, cancel_futures=True)
        self._sweep()
        if self.firewall is not None:
            self.firewall.close()
        self.kept_networks = self._networks.remove_created()
        if self._own_sandbox:
            shutil.rmtree(self.sandbox_root, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._ops.submit(self._guarded, fn, *args)
        except RuntimeError:                      # pool shut down: runner closing
            pass

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:                         # noqa: BLE001 - never kill a pool thread
            log.exception("docker runner: %s failed", getattr(fn, "__name__", fn))

    def _forget(self, task: DockerTask) -> None:
        """Drop ``task`` (terminal now) from the table, unless a relaunch replaced it."""
        with self._lock:
            if self._tasks.get((task.agent.agent_id, task.task_id)) is task:
                del self._tasks[(task.agent.agent_id, task.task_id)]

    def _sweep(self) -> None:
        for container_id in runner_containers(self.api, self.runner_id) or {}:
            remove_container(self.api, container_id)

    # -- watcher -------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick()
            except Exception:                     # noqa: BLE001 - keep watching
                log.exception("docker runner watcher")
                wait = self.poll_s
            self._stop.wait(wait)

    def _tick(self) -> float:
        """See exits, queue due health checks; the seconds until the next tick."""
        with self._lock:
            running = [t for t in self._tasks.values() if t.phase == "running"]
        if running:
            found = runner_containers(self.api, self.runner_id)
            if found is None:
                return self.poll_s
            for task in running:
                state = found.get(task.container_id or "")
                if state is None or state in ("exited", "dead", "removing"):
                    with task.lock:
                        claim = task.phase == "running" and not (task.killing or task.silent)
                        if claim:
                            task.phase = "exiting"
                    if claim:
                        self._submit(self._worker.exited, task, state is None)
        now, wait = self.clock(), self.poll_s
        for task in running:
            with task.lock:
                health = task.health if task.checkable() else None
                if health is not None and health.next_check <= now:
                    health.probing = True
                    try:
                        self._probes.submit(self._guarded, self._worker.probe, task)
                    except RuntimeError:
                        health.probing = False
                elif health is not None:
                    wait = min(wait, health.next_check - now)
        return max(0.01, wait)
