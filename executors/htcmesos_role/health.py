"""HTTP health endpoint of a role container: ``GET /health``.

``200 {"ok": true, "role": ..., "detail": ...}`` when the role's check passes,
``503`` with the same JSON (``ok`` false, ``detail`` the reason) when it fails or takes
longer than ``HTCMESOS_HEALTH_TIMEOUT`` seconds; any other request gets ``404``.

Run as ``python3 -m htcmesos_role.health --role ROLE [--port 5000] [--host 0.0.0.0]``;
the entrypoint starts it detached. The checks themselves live in :mod:`.checks`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from . import ROLES
from .checks import CheckResult, PoolQuery, check_executor, check_master, check_submitter, run_check
from .pool import BindingsPoolQuery, address_for_role
from .tolerance import OutageTolerance, update_interval_from_env

__all__ = [
    "CheckResult", "check_executor", "check_master", "check_submitter",
    "HealthServer", "make_checker", "make_server", "main",
]

DEFAULT_PORT = 5000
DEFAULT_HOST = "0.0.0.0"
DEFAULT_TIMEOUT_S = 10.0

Checker = Callable[[], CheckResult]


def make_checker(
    role: str,
    env: Mapping[str, str],
    query_factory: Optional[Callable[[], PoolQuery]] = None,
    hostnames: Tuple[str, ...] = (),
) -> Checker:
    """A zero-argument check for ``role``; a fresh pool query object per call.

    ``query_factory`` defaults to the real bindings against the role's collector.
    """
    env = dict(env)

    def factory() -> PoolQuery:
        if query_factory is not None:
            return query_factory()
        return BindingsPoolQuery(address_for_role(role, env))

    def checker() -> CheckResult:
        try:
            query = factory()
        except Exception as exc:
            return CheckResult(False, role, "%s: %s" % (type(exc).__name__, exc))
        return run_check(role, query, env, hostnames)

    return checker


#: Seconds an isolated check may run before its process is killed (callers stop waiting
#: after their own timeout; this only bounds the process).
CHILD_LIMIT_S = 60.0


def _child_main(checker: Checker, role: str, writer: "multiprocessing.connection.Connection") -> None:
    try:
        result = checker()
    except BaseException as exc:  # noqa: BLE001 - reported, as in-thread checks are
        result = CheckResult(False, role, "%s: %s" % (type(exc).__name__, exc))
    writer.send(result)
    writer.close()


def in_child(checker: Checker, role: str, limit_s: float = CHILD_LIMIT_S) -> CheckResult:
    """Run ``checker`` in a forked child process and return its result.

    The HTCondor bindings hold the GIL while they wait on the network: a collector that
    takes connections and never answers (frozen, overloaded) would freeze every thread of
    this server, and Mesos would count the unanswered health check as a failure the
    outage tolerance never sees, and kill the task with its running jobs. In a child,
    only the child waits; the server answers "timed out" (unreachable) on time."""
    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(checker, role, writer), daemon=True,
                        name="htcmesos-health-check")
    try:
        child.start()
    except OSError as exc:
        return CheckResult(False, role, "cannot start the check: %s" % exc)
    writer.close()
    try:
        if reader.poll(limit_s):
            return reader.recv()
        return CheckResult(False, role, "the check gave no answer in %.0f s" % limit_s,
                           unreachable=True)
    except (EOFError, OSError):
        child.join(5)
        return CheckResult(False, role, "the check process ended without an answer (exit "
                                        "code %s)" % child.exitcode)
    finally:
        reader.close()
        if child.is_alive():
            child.kill()
        child.join(5)


class SingleFlight:
    """Runs the checker in one daemon thread at a time, with a timeout per caller.

    Requests arriving while a check is in flight share its result instead of starting
    another query, so a hung collector ties up one thread, not one per request, and the
    HTCondor bindings are never called concurrently. With ``isolate`` each check runs in
    a child process (:func:`in_child`): the server keeps answering while it waits.
    """

    def __init__(self, checker: Checker, role: str, isolate: bool = False) -> None:
        self._checker = checker
        self._role = role
        self._isolate = isolate
        self._lock = threading.Lock()
        self._done: Optional[threading.Event] = None
        self._result: List[CheckResult] = []
        self.waiting = 0
        """Callers waiting for the check in flight (for observation and tests)."""

    def _fly(self, done: threading.Event, box: List[CheckResult]) -> None:
        try:
            box.append(in_child(self._checker, self._role) if self._isolate
                       else self._checker())
        except BaseException as exc:  # never let a check kill the server
            box.append(CheckResult(False, self._role, "%s: %s" % (type(exc).__name__, exc)))
        finally:
            done.set()

    def run(self, timeout_s: float) -> CheckResult:
        """The result of the in-flight check (or a new one), or a timeout failure."""
        with self._lock:
            if self._done is None or self._done.is_set():
                self._done, self._result = threading.Event(), []
                worker = threading.Thread(target=self._fly, args=(self._done, self._result),
                                          name="htcmesos-health-check", daemon=True)
                worker.start()
            done, box = self._done, self._result
            self.waiting += 1
        try:
            finished = done.wait(timeout_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not finished or not box:
            return CheckResult(False, self._role, "health check timed out after %.1f s"
                               % timeout_s, unreachable=True)
        return box[0]


class HealthServer(ThreadingHTTPServer):
    """Threading HTTP server carrying the role's checker."""

    daemon_threads = True

    def __init__(self, address: Tuple[str, int], role: str, checker: Checker, timeout_s: float,
                 tolerance: OutageTolerance, isolate: bool = False) -> None:
        self.role = role
        self.flight = SingleFlight(checker, role, isolate)
        self.timeout_s = timeout_s
        self.tolerance = tolerance
        super().__init__(address, HealthHandler)


class HealthHandler(BaseHTTPRequestHandler):
    """``GET /health`` → 200/503 JSON; everything else → 404 JSON."""

    server: HealthServer
    server_version = "htcmesos-health/1"

    def _send_json(self, status: int, body: dict, with_body: bool = True) -> None:
        data = json.dumps(body, sort_keys=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def _not_found(self) -> None:
        body = {"ok": False, "role": self.server.role, "detail": "not found: %s %s" % (self.command, self.path)}
        self._send_json(404, body, with_body=self.command != "HEAD")

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        """Serve ``/health`` (query strings ignored); anything else is 404."""
        if urlsplit(self.path).path != "/health":
            self._not_found()
            return
        result = self.server.tolerance.judge(self.server.flight.run(self.server.timeout_s))
        if not result.ok:
            self.log_message("unhealthy: %s", result.detail)
        self._send_json(200 if result.ok else 503, result.as_json())

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_found

    def log_request(self, code: object = "-", size: object = "-") -> None:
        """Only non-200 requests are logged (health checks poll often)."""
        if str(code) != "200" and str(code) != "503":
            super().log_request(code, size)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write("htcmesos-health: %s\n" % (format % args))


def make_server(role: str, checker: Checker, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                timeout_s: float = DEFAULT_TIMEOUT_S,
                tolerance: Optional[OutageTolerance] = None, isolate: bool = False) -> HealthServer:
    """Bind (port 0: any free port; see ``server.server_address``), do not serve yet.

    ``tolerance`` (default: from ``HTCMESOS_UPDATE_INTERVAL``) keeps the submitter and
    executors healthy through a central-manager outage (:mod:`.tolerance`)."""
    tolerance = tolerance or OutageTolerance(role, update_interval_from_env(dict(os.environ)))
    return HealthServer((host, port), role, checker, timeout_s, tolerance, isolate)


def _parse_args(argv: Optional[List[str]], env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m htcmesos_role.health", description=__doc__.split("\n")[0])
    parser.add_argument("--role", default=env.get("HTCMESOS_ROLE", ""), choices=ROLES)
    parser.add_argument("--port", type=int, default=int(env.get("HTCMESOS_HEALTH_PORT") or DEFAULT_PORT))
    parser.add_argument("--host", default=env.get("HTCMESOS_HEALTH_HOST") or DEFAULT_HOST)
    parser.add_argument("--timeout", type=float,
                        default=float(env.get("HTCMESOS_HEALTH_TIMEOUT") or DEFAULT_TIMEOUT_S))
    args = parser.parse_args(argv)
    if args.role not in ROLES:
        parser.error("a role is required (--role or HTCMESOS_ROLE): one of %s" % ", ".join(ROLES))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Serve until killed; exit 2 on bad arguments, 1 if the port cannot be bound."""
    env = dict(os.environ)
    try:
        args = _parse_args(argv, env)
    except ValueError as exc:
        sys.stderr.write("htcmesos-health: bad setting: %s\n" % exc)
        return 2
    try:
        server = make_server(args.role, make_checker(args.role, env), args.host, args.port, args.timeout,
                             isolate=True)
    except OSError as exc:
        sys.stderr.write("htcmesos-health: cannot listen on %s:%d: %s\n" % (args.host, args.port, exc.strerror))
        return 1
    host, port = server.server_address[:2]
    sys.stderr.write("htcmesos-health: %s health on http://%s:%d/health\n" % (args.role, host, port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
