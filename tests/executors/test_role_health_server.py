"""The real health HTTP server on a loopback port, with fake pool queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pytest

from tests.services import wait_for

from htcmesos_role import probe
from htcmesos_role.checks import TASK_ID_ATTR, CheckResult
from htcmesos_role.health import make_checker, make_server


class StaticPool:
    """Returns the same ads for any query (the check must filter them itself)."""

    address = "fake-cm"

    def __init__(self, ads: List[Dict[str, Any]]) -> None:
        self.ads = ads

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        return list(self.ads)


class BlockingPool:
    """Never answers until released (a hung collector); counts queries."""

    address = "hung-cm"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.queries = 0

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        self.queries += 1
        self.release.wait(10)
        return [{"Name": "c"}]


class BrokenPool:
    address = "broken-cm"

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        raise RuntimeError("Failed communication with collector.")


def request(url: str, method: str = "GET") -> "tuple[int, dict]":
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a health server on 127.0.0.1:0 for a pool object; returns its base URL."""
    servers = []

    def start(role: str, pool: Any, env: Optional[Dict[str, str]] = None, timeout_s: float = 5.0) -> str:
        server = make_server(role, make_checker(role, env or {}, query_factory=lambda: pool), "127.0.0.1", 0, timeout_s)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        start.last = server
        return "http://127.0.0.1:%d" % server.server_address[1]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_executor_own_ad_gives_200(serve):
    base = serve("executor", StaticPool([{"Name": "slot1@x", TASK_ID_ATTR: "task-1"}]), {"HTCMESOS_TASK_ID": "task-1"})
    status, body = request(base + "/health")
    assert status == 200
    assert body["ok"] is True and body["role"] == "executor" and "task-1" in body["detail"]
    assert request(base + "/health?verbose=1")[0] == 200


def test_executor_other_tasks_ad_gives_503(serve):
    base = serve("executor", StaticPool([{"Name": "slot1@y", TASK_ID_ATTR: "task-2"}]), {"HTCMESOS_TASK_ID": "task-1"})
    status, body = request(base + "/health")
    assert status == 503 and body["ok"] is False and "task-1" in body["detail"]


def test_bindings_error_gives_503_with_reason(serve):
    status, body = request(serve("master", BrokenPool()) + "/health")
    assert status == 503
    assert body == {"ok": False, "role": "master",
                    "detail": "RuntimeError: Failed communication with collector. (asking broken-cm)"}


def test_hung_collector_gives_503_after_timeout(serve):
    pool = BlockingPool()
    base = serve("master", pool, timeout_s=0.3)
    started = time.monotonic()
    status, body = request(base + "/health")
    pool.release.set()
    assert status == 503 and "timed out" in body["detail"]
    assert pool.queries == 1 and time.monotonic() - started < 5   # answered, not hung


class GilHoldingPool:
    """A query that holds the GIL while it runs, as the htcondor2 bindings do while they
    wait on a collector that never answers (here: a regular expression that backtracks
    for about 10 s inside C code; the in-thread check would keep the server from
    answering until it ends)."""

    address = "frozen-cm"

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        import re
        re.match(r"(a+)+$", "a" * 27 + "b")   # ~10 s here
        return []


def test_a_check_that_holds_the_gil_does_not_freeze_the_server():
    from htcmesos_role.health import in_child
    server = make_server("executor", make_checker("executor", {"HTCMESOS_TASK_ID": "t-1"}, query_factory=GilHoldingPool),
                         "127.0.0.1", 0, 0.5, isolate=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        status, body = request("http://127.0.0.1:%d/health" % server.server_address[1])
        took = time.monotonic() - started
        assert status == 503 and "timed out" in body["detail"], body
        assert took < 3, took                         # answered on time, not after the query
    finally:
        server.shutdown()
        server.server_close()
    # the child's answer comes back whole; a child that dies says so
    assert in_child(lambda: CheckResult(True, "executor", "fine"), "executor").detail == "fine"
    died = in_child(lambda: os._exit(3), "executor")
    assert not died.ok and "exit code 3" in died.detail and not died.unreachable
    slow = in_child(lambda: time.sleep(30), "executor", limit_s=0.5)
    assert not slow.ok and slow.unreachable and "gave no answer" in slow.detail


def test_concurrent_requests_share_one_query(serve):
    pool = BlockingPool()
    base = serve("master", pool, timeout_s=5)
    answers: List[tuple] = []
    threads = [threading.Thread(target=lambda: answers.append(request(base + "/health"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    flight = serve.last.flight
    assert wait_for(lambda: pool.queries == 1 and flight.waiting == 4, 5.0), \
        (pool.queries, flight.waiting)          # all four joined the one flight
    pool.release.set()
    for thread in threads:
        thread.join(10)
    assert [status for status, _ in answers] == [200] * 4
    assert pool.queries == 1
    assert request(base + "/health")[0] == 200 and pool.queries == 2  # a finished flight is not cached


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/healthz"), ("GET", "/health/x"), ("POST", "/health"),
                                          ("PUT", "/health"), ("DELETE", "/health")])
def test_anything_else_is_404(serve, method, path):
    status, body = request(serve("master", StaticPool([{"Name": "c"}])) + path, method)
    assert status == 404 and body["ok"] is False


def test_probe_exit_codes(serve, capsys, free_port):
    ok = serve("master", StaticPool([{"Name": "c"}]))
    bad = serve("master", StaticPool([]))
    assert probe.probe(ok + "/health") == 0
    assert probe.probe(bad + "/health") == 1
    assert probe.main({"HTCMESOS_HEALTH_PORT": ok.rsplit(":", 1)[1]}) == 0
    assert probe.main({"HTCMESOS_HEALTH_PORT": str(free_port)}) == 1
    assert "unreachable" in capsys.readouterr().out


def test_health_module_runs_as_a_process(tmp_path, free_port, executors_dir):
    port = free_port
    env = {"PYTHONPATH": str(executors_dir), "HTCMESOS_MASTER_ADDRESS": "127.0.0.1:1", "HTCMESOS_TASK_ID": "t"}
    log = (tmp_path / "health.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "htcmesos_role.health", "--role", "executor",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, body = request("http://127.0.0.1:%d/health" % port)
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        assert status == 503 and body["role"] == "executor" and "collector" in body["detail"].lower()
    finally:
        proc.terminate()
        proc.wait(5)
        log.close()
    bad = subprocess.run([sys.executable, "-m", "htcmesos_role.health"], env=env, capture_output=True, timeout=30)
    assert bad.returncode == 2 and b"role" in bad.stderr
