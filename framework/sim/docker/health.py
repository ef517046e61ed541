"""Mesos health checks (HTTP, TCP, COMMAND) of tasks run as Docker containers.

:class:`HealthCheck` parses a Mesos ``HealthCheck`` (defaults as in mesos.proto);
:func:`probe` runs one check: HTTP/TCP from the host to the container IP, COMMAND by
``docker exec``; :class:`HealthState` counts results the way the Mesos executor does:
the first check runs ``delay_seconds`` after RUNNING, then every ``interval_seconds``;
failures within ``grace_period_seconds`` of RUNNING do not count until the task was
healthy once; each change of health is reported (as RUNNING with ``healthy`` set); after
``consecutive_failures`` counted failures in a row (0: never) the task is killed.
Durations are seconds; times are the runner's monotonic clock.
"""
from __future__ import annotations

import http.client
import math
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from .translate import LaunchError, env_value

HEALTH_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


@dataclass(frozen=True)
class HealthCheck:
    """A Mesos ``HealthCheck`` (defaults as in mesos.proto)."""

    kind: str                         # HTTP, TCP or COMMAND
    port: int = 0
    path: str = "/"
    scheme: str = "http"
    statuses: tuple[int, ...] = ()
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    delay_s: float = 15.0
    interval_s: float = 10.0
    timeout_s: float = 20.0
    max_failures: int = 3             # 0: never kill
    grace_s: float = 10.0

    @classmethod
    def parse(cls, hc: dict[str, Any]) -> "HealthCheck":
        """Parse a Mesos ``HealthCheck`` JSON object; raise :class:`LaunchError`."""
        kind = hc.get("type") or ("COMMAND" if "command" in hc else "HTTP" if "http" in hc
                                  else "TCP" if "tcp" in hc else "")
        timing = dict(delay_s=float(hc.get("delay_seconds", 15.0)),
                      interval_s=float(hc.get("interval_seconds", 10.0)),
                      timeout_s=float(hc.get("timeout_seconds", 20.0)),
                      max_failures=int(hc.get("consecutive_failures", 3)),
                      grace_s=float(hc.get("grace_period_seconds", 10.0)))
        if kind == "HTTP":
            http = hc.get("http") or {}
            return cls("HTTP", port=int(http["port"]), path=http.get("path", "/") or "/",
                       scheme=http.get("scheme", "http"),
                       statuses=tuple(int(s) for s in http.get("statuses", [])), **timing)
        if kind == "TCP":
            return cls("TCP", port=int((hc.get("tcp") or {})["port"]), **timing)
        if kind == "COMMAND":
            cmd = hc.get("command") or {}
            if cmd.get("shell", True):
                argv: tuple[str, ...] = ("sh", "-c", str(cmd.get("value", "")))
            else:
                argv = tuple(([cmd["value"]] if cmd.get("value") else [])
                             + [str(a) for a in cmd.get("arguments", [])])
            env = tuple((str(v["name"]), env_value(v))
                        for v in (cmd.get("environment") or {}).get("variables", []))
            if not argv:
                raise LaunchError("health_check.command has no value or arguments")
            return cls("COMMAND", argv=argv, env=env, **timing)
        raise LaunchError(f"health_check type {kind!r} is not HTTP, TCP or COMMAND")


def probe(api: docker.APIClient, check: HealthCheck, ip: str | None,
          container_id: str) -> tuple[bool, str]:
    """Run one check from the host (HTTP/TCP to ``ip``) or by ``docker exec``."""
    host = ip or "127.0.0.1"
    try:
        if check.kind == "HTTP":
            if check.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, check.port, timeout=check.timeout_s,
                    context=ssl._create_unverified_context())  # noqa: S323 - Mesos does not verify
            else:
                conn = http.client.HTTPConnection(host, check.port, timeout=check.timeout_s)
            try:
                conn.request("GET", check.path)
                status = conn.getresponse().status
            finally:
                conn.close()
            ok = status in check.statuses if check.statuses else 200 <= status < 400
            return ok, f"HTTP GET {host}:{check.port}{check.path} → {status}"
        if check.kind == "TCP":
            with socket.create_connection((host, check.port), timeout=check.timeout_s):
                return True, f"TCP {host}:{check.port} connected"
        exec_id = api.exec_create(container_id, list(check.argv), environment=dict(check.env))["Id"]
        api.exec_start(exec_id, detach=True)
        deadline = time.monotonic() + check.timeout_s
        while time.monotonic() < deadline:
            info = api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                code = info["ExitCode"]
                return code == 0, f"command {list(check.argv)} exited with status {code}"
            time.sleep(0.05)
        return False, f"command {list(check.argv)} timed out after {check.timeout_s:g} s"
    except (OSError, http.client.HTTPException, docker.errors.DockerException) as exc:
        return False, f"{check.kind} check failed: {exc}"


@dataclass
class HealthState:
    """Health bookkeeping of one task (times in seconds of the runner's clock).

    The runner owns the scheduling fields (``next_check``, ``probing``) and changes them
    under the task's lock; :meth:`record` decides what a probe result means.
    """

    check: HealthCheck
    running_at: float = 0.0
    next_check: float = math.inf      # when the next probe is due
    probing: bool = False             # a probe is queued or running
    failures: int = 0                 # counted failures in a row
    ever_healthy: bool = False
    healthy: bool | None = None       # last reported health (None: not yet reported)

    def start(self, now: float) -> None:
        """The task is RUNNING since ``now``: the first check is due ``delay_s`` later."""
        self.running_at, self.next_check = now, now + self.check.delay_s

    def record(self, ok: bool, now: float) -> tuple[bool | None, bool]:
        """Count one probe result taken at ``now``: (health to report or None, kill?)."""
        if ok:
            self.failures, self.ever_healthy = 0, True
            if self.healthy is not True:
                self.healthy = True
                return True, False
            return None, False
        if not self.ever_healthy and now - self.running_at < self.check.grace_s:
            return None, False                # failures in the grace period do not count
        self.failures += 1
        change = None
        if self.healthy is not False:
            self.healthy = change = False
        return change, 0 < self.check.max_failures <= self.failures
