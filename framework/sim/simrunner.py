"""The simulated TaskRunner: state changes on the injected clock, no processes.

A launched task reports TASK_STARTING after ``starting_s`` and TASK_RUNNING ``running_s``
later with an IP from its Calico network's CIDR (``container.network_infos[0].name``;
a network the agent lacks → TASK_FAILED), then ``healthy=true`` ``healthy_s`` later if
the TaskInfo has a health check. A kill reports TASK_KILLING, then TASK_KILLED after
``kill_s`` (at most the kill grace period). Faults per site: a "black hole" (RUNNING, then
FAILED ``after_s`` later), failures at launch, and failing health checks (from ``after_s``
after RUNNING, each check fails; as Mesos' Docker executor, src/docker/executor.cpp and
src/checks/health_checker.cpp: failures inside ``grace_period_seconds`` of a task that was
never healthy are ignored, the first counted one is a TASK_RUNNING ``healthy=false``
update with REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and ``consecutive_failures`` of them,
``interval_seconds`` apart, kill the task: TASK_KILLING, then TASK_KILLED
``healthy=false``), each with a probability and/or for the next N tasks; start delays per
site. All delays are clock seconds; every task shares the
one timer thread (10k tasks are 10k heap entries, not threads).
"""
from __future__ import annotations

import ipaddress
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ..clock import Clock
from ..mesos.protocol import TaskState
from .mesos.tasks import docker_network_name, requested_ip
from .mesos.timers import Timer, TimerService
from .runner import AgentInfo, StatusSink, TaskReport, TaskRunner

LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"


@dataclass
class _Fault:
    probability: float = 0.0
    left: int | None = None          # fail the next N tasks (None: no count)
    after_s: float = 0.0             # black hole: seconds from RUNNING to FAILED

    def fires(self, rng: random.Random) -> bool:
        if self.left is not None and self.left > 0:
            self.left -= 1
            return True
        return self.probability > 0 and rng.random() < self.probability


@dataclass
class _SimTask:
    agent_id: str
    task_id: str
    site: str
    sink: StatusSink
    network: str | None
    health: bool
    state: TaskState = TaskState.STAGING
    check: dict | None = None        # the TaskInfo's health_check
    launched: float = 0.0
    sick_after_s: float | None = None   # checks fail from this long after RUNNING
    was_healthy: bool = False
    failures: int = 0
    ip: str | None = None
    timer: Timer | None = None
    black_hole_s: float | None = None


class _Pool:
    """Addresses of one network. Automatic ones come from the upper half of the CIDR, in
    order and reused after release; the lower half is kept for fixed addresses (the
    master's), as a Calico IPReservation keeps them out of automatic assignment. A
    requested address (docker parameter ``ip``) may be anywhere in the CIDR if free."""

    def __init__(self, cidr: str):
        self.net = ipaddress.ip_network(cidr, strict=False)
        self.next = self.net.num_addresses // 2 if self.net.num_addresses >= 8 else 1
        self.free: list[int] = []
        self.used: set[int] = set()

    def take(self, requested: str | None = None) -> str | None:
        """An address (None: the automatic range is full); ValueError for a bad request."""
        if requested is not None:
            offset = int(ipaddress.ip_address(requested)) - int(self.net.network_address)
            if not 0 < offset < self.net.num_addresses - 1:
                raise ValueError(f"Address {requested} is not in network {self.net}")
            if offset in self.used:
                raise ValueError(f"Address already in use: {requested}")
        elif self.free:
            offset = self.free.pop()
        elif self.next < self.net.num_addresses - 1:
            offset, self.next = self.next, self.next + 1
        else:
            return None
        self.used.add(offset)
        return str(self.net.network_address + offset)

    def give(self, ip: str) -> None:
        offset = int(ipaddress.ip_address(ip)) - int(self.net.network_address)
        self.used.discard(offset)
        if offset >= self.net.num_addresses // 2 or self.net.num_addresses < 8:
            self.free.append(offset)


class SimTaskRunner(TaskRunner):
    """Simulated tasks for any number of agents (thread-safe)."""

    def __init__(self, clock: Clock | None = None, seed: int = 0, starting_s: float = 0.01,
                 running_s: float = 0.02, healthy_s: float = 0.02, kill_s: float = 0.01,
                 timers: TimerService | None = None):
        self._own_timers = timers is None
        self.timers = timers or TimerService(clock, name="simrunner")
        self.starting_s, self.running_s = starting_s, running_s
        self.healthy_s, self.kill_s = healthy_s, kill_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, str], _SimTask] = {}
        self._pools: dict[str, _Pool] = {}         # network name → addresses
        self._black_holes: dict[str, _Fault] = {}
        self._launch_faults: dict[str, _Fault] = {}
        self._sick: dict[str, _Fault] = {}
        self._delays: dict[str, tuple[float, float]] = {}

    # -- faults --------------------------------------------------------------------------

    def black_hole(self, site: str, after_s: float = 1.0, probability: float = 1.0,
                   count: int | None = None) -> None:
        """Tasks at ``site`` fail ``after_s`` after RUNNING (each with ``probability``, or the
        next ``count`` tasks when ``count`` is given and ``probability`` is 0)."""
        with self._lock:
            self._black_holes[site] = _Fault(probability if count is None else 0.0, count, after_s)

    def fail_at_launch(self, site: str, probability: float = 1.0, count: int | None = None) -> None:
        """Tasks at ``site`` fail to launch (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED)."""
        with self._lock:
            self._launch_faults[site] = _Fault(probability if count is None else 0.0, count)

    def fail_health(self, site: str, after_s: float = 0.0, probability: float = 1.0,
                    count: int | None = None) -> None:
        """Health checks of tasks at ``site`` fail from ``after_s`` after RUNNING on (see
        the module docstring; tasks without a health check are not affected)."""
        with self._lock:
            self._sick[site] = _Fault(probability if count is None else 0.0, count, after_s)

    def set_start_delay(self, site: str, starting_s: float, running_s: float) -> None:
        """Seconds to TASK_STARTING, then to TASK_RUNNING, for new tasks at ``site``."""
        with self._lock:
            self._delays[site] = (starting_s, running_s)

    def clear_faults(self, site: str | None = None) -> None:
        with self._lock:
            for table in (self._black_holes, self._launch_faults, self._sick, self._delays):
                if site is None:
                    table.clear()
                else:
                    table.pop(site, None)

    def finish(self, agent_id: str, task_id: str, state: TaskState = TaskState.FINISHED,
               message: str = "") -> bool:
        """End a live task with ``state`` now (e.g. the role's process exited)."""
        with self._lock:
            task = self._tasks.get((agent_id, task_id))
            if task is None:
                return False
            self._cancel(task)
        self.timers.call_later(0.0, lambda: self._end(task, state, message, None))
        return True

    def task_ip(self, agent_id: str, task_id: str) -> str | None:
        with self._lock:
            task = self._tasks.get((agent_id, task_id))
            return task.ip if task else None

    def live_tasks(self) -> int:
        with self._lock:
            return len(self._tasks)

    # -- TaskRunner ----------------------------------------------------------------------

    def launch(self, agent: AgentInfo, task_info: dict[str, Any], sink: StatusSink) -> None:
        task_id = task_info["task_id"]["value"]
        network = docker_network_name(task_info)
        task = _SimTask(agent.agent_id, task_id, agent.site, sink, network,
                        task_info.get("health_check") is not None,
                        check=task_info.get("health_check"), launched=self.timers.now())
        command = task_info.get("command")
        with self._lock:
            self._tasks[(agent.agent_id, task_id)] = task
            starting_s, running_s = self._delays.get(agent.site, (self.starting_s, self.running_s))
            error = None
            if command is not None and command.get("shell", True) and command.get("value") is None:
                error = "Shell specified but no command value provided"
            elif network is not None and network not in agent.networks:
                error = f"Network '{network}' not found on agent {agent.agent_id}"
            elif (fault := self._launch_faults.get(agent.site)) and fault.fires(self._rng):
                error = f"Injected launch failure at site {agent.site}"
            elif (hole := self._black_holes.get(agent.site)) and hole.fires(self._rng):
                task.black_hole_s = hole.after_s
            if error is None and task.check is not None and \
                    (sick := self._sick.get(agent.site)) and sick.fires(self._rng):
                task.sick_after_s = sick.after_s
            if network is not None and error is None:
                pool = self._pools.get(network)
                if pool is None:
                    pool = self._pools[network] = _Pool(agent.networks[network])
                try:
                    task.ip = pool.take(requested_ip(task_info))
                except ValueError as exc:
                    error = str(exc)
                else:
                    if task.ip is None:
                        error = f"No free address left in network '{network}'"
        if error is not None:
            self._after(task, starting_s, lambda: self._end(task, TaskState.FAILED, error, LAUNCH_FAILED))
        else:
            self._after(task, starting_s, lambda: self._starting(task, running_s))

    def kill(self, agent: AgentInfo, task_id: str, grace_s: float, sink: StatusSink) -> None:
        with self._lock:
            task = self._tasks.get((agent.agent_id, task_id))
            if task is None or task.state == TaskState.KILLING:
                return
            self._cancel(task)
            if task.state == TaskState.STAGING:
                delay, killing = 0.0, False
            else:
                delay, killing = min(self.kill_s, max(0.0, grace_s)), True
        if killing:
            self._after(task, 0.0, lambda: self._killing(task, delay))
        else:
            self._after(task, 0.0, lambda: self._end(task, TaskState.KILLED, "Task killed before it started", None))

    def lose_agent(self, agent: AgentInfo) -> None:
        with self._lock:
            for key in [k for k in self._tasks if k[0] == agent.agent_id]:
                task = self._tasks.pop(key)
                self._cancel(task)
                self._release(task)

    def close(self) -> None:
        with self._lock:
            for task in self._tasks.values():
                self._cancel(task)
            self._tasks.clear()
        if self._own_timers:
            self.timers.close()

    # -- state machine (timer thread) ----------------------------------------------------

    def _after(self, task: _SimTask, delay_s: float, step: Callable[[], None]) -> None:
        with self._lock:
            if self._tasks.get((task.agent_id, task.task_id)) is task:
                task.timer = self.timers.call_later(delay_s, step)

    def _cancel(self, task: _SimTask) -> None:
        if task.timer is not None:
            task.timer.cancel()
            task.timer = None

    def _release(self, task: _SimTask) -> None:
        if task.ip is not None and task.network is not None:
            pool = self._pools.get(task.network)
            if pool is not None:
                pool.give(task.ip)
            task.ip = None

    def _report(self, task: _SimTask, state: TaskState, message: str = "", reason: str | None = None,
                healthy: bool | None = None) -> bool:
        with self._lock:
            if self._tasks.get((task.agent_id, task.task_id)) is not task:
                return False
            task.state = state
            ip = task.ip
            if state.terminal:
                del self._tasks[(task.agent_id, task.task_id)]
                self._cancel(task)
                self._release(task)
        task.sink.report(task.agent_id, TaskReport(task.task_id, state, message, reason,
                                                   ip if state == TaskState.RUNNING else None, healthy))
        return True

    def _starting(self, task: _SimTask, running_s: float) -> None:
        if self._report(task, TaskState.STARTING):
            self._after(task, running_s, lambda: self._running(task))

    def _running(self, task: _SimTask) -> None:
        if not self._report(task, TaskState.RUNNING, "Container is running"):
            return
        if task.sick_after_s is not None and task.sick_after_s < self.healthy_s:
            self._after(task, task.sick_after_s, lambda: self._check_failed(task))
        elif task.health:
            self._after(task, self.healthy_s, lambda: self._healthy(task))
        elif task.black_hole_s is not None:
            self._after(task, task.black_hole_s, lambda: self._black_hole(task))

    def _healthy(self, task: _SimTask) -> None:
        task.was_healthy = True
        if self._report(task, TaskState.RUNNING, "Task is healthy", healthy=True):
            if task.sick_after_s is not None:
                self._after(task, max(0.0, task.sick_after_s - self.healthy_s),
                            lambda: self._check_failed(task))
            elif task.black_hole_s is not None:
                self._after(task, max(0.0, task.black_hole_s - self.healthy_s), lambda: self._black_hole(task))

    def _check_failed(self, task: _SimTask) -> None:
        """One failed health check (every ``interval_seconds`` from now on)."""
        check = task.check or {}
        interval = float(check.get("interval_seconds", 10.0))
        grace = float(check.get("grace_period_seconds", 10.0))
        if not task.was_healthy and self.timers.now() - task.launched < grace:
            self._after(task, interval, lambda: self._check_failed(task))   # ignored
            return
        task.failures += 1
        if task.failures == 1 and not self._report(
                task, TaskState.RUNNING, "Task is unhealthy",
                "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", healthy=False):
            return
        most = int(check.get("consecutive_failures", 3))     # 0: never killed
        if most and task.failures >= most:
            self._after(task, 0.0, lambda: self._health_kill(task))
        else:
            self._after(task, interval, lambda: self._check_failed(task))

    def _health_kill(self, task: _SimTask) -> None:
        if self._report(task, TaskState.KILLING, "Killing task: health check failed",
                        healthy=False):
            self._after(task, self.kill_s, lambda: self._report(
                task, TaskState.KILLED, f"Task killed: {task.failures} consecutive health "
                                        f"check failures", None, healthy=False))

    def _black_hole(self, task: _SimTask) -> None:
        self._end(task, TaskState.FAILED, f"Task failed at black-hole site {task.site}",
                  "REASON_COMMAND_EXECUTOR_FAILED")

    def _killing(self, task: _SimTask, delay_s: float) -> None:
        if self._report(task, TaskState.KILLING, "Killing task"):
            self._after(task, delay_s, lambda: self._end(task, TaskState.KILLED, "Task killed", None))

    def _end(self, task: _SimTask, state: TaskState, message: str, reason: str | None) -> None:
        self._report(task, state, message, reason)
