"""A central-manager outage must not fail the submitter's and executors' health checks
(Mesos would kill the whole pool with its master); a broken task still fails."""
from __future__ import annotations

from pathlib import Path

import pytest

from htcmesos_role.checks import CheckResult
from htcmesos_role.tolerance import OutageTolerance, daemon_running, update_interval_from_env

OK = CheckResult(True, "executor", "startd advertises")
UNREACHABLE = CheckResult(False, "executor", "RuntimeError: Failed communication with collector",
                          unreachable=True)


def missing(age):
    return CheckResult(False, "executor", "no startd ad", collector_age_s=age)


def tolerance(alive=True, role="executor"):
    return OutageTolerance(role, update_interval_s=10, alive=lambda name: alive)


@pytest.mark.parametrize("seen, alive, result, healthy", [
    (True, True, UNREACHABLE, True),          # the outage: keep running
    (False, True, UNREACHABLE, False),        # never reached the collector: broken
    (True, False, UNREACHABLE, False),        # its daemon died
    (True, True, missing(5.0), True),         # collector restarted 5 s ago (< 3 × 10 s)
    (False, True, missing(5.0), False),       # never seen: not excused (start-up grace
                                              # is the Mesos health check's own)
    (True, True, missing(31.0), False),       # up for a while, still no ad: broken
    (True, True, missing(None), False),       # age unknown
    (True, False, missing(5.0), False),       # restarted collector, but our daemon died
])
def test_outage_matrix(seen, alive, result, healthy):
    tol = tolerance(alive)
    if seen:
        assert tol.judge(OK).ok
    judged = tol.judge(result)
    assert judged.ok is healthy, judged
    if healthy:
        assert "startd" in judged.detail


def test_the_master_role_is_never_excused():
    tol = tolerance(role="master")
    tol.judge(CheckResult(True, "master", "collector answers"))
    down = CheckResult(False, "master", "no collector", unreachable=True)
    assert tol.judge(down) is down


def test_daemon_running_reads_proc(tmp_path: Path):
    for pid, name in (("1", "condor_master"), ("27", "condor_startd"), ("self", "x")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(name + "\n")
    assert daemon_running("condor_startd", tmp_path)
    assert not daemon_running("condor_schedd", tmp_path)
    assert not daemon_running("x", tmp_path)                   # only numeric entries
    assert not daemon_running("condor_startd", tmp_path / "missing")


@pytest.mark.parametrize("value, expected", [("5", 5.0), ("", 300.0), ("bad", 300.0),
                                             ("0", 1.0)])
def test_update_interval_from_env(value, expected):
    assert update_interval_from_env({"HTCMESOS_UPDATE_INTERVAL": value}) == expected


def test_health_server_stays_healthy_through_an_outage_and_a_hang():
    """End to end through the HTTP server: seen once, then the collector fails, then it
    hangs past the check's timeout; the executor's own startd runs all along."""
    import json
    import threading
    import urllib.error
    import urllib.request

    from htcmesos_role.health import make_checker, make_server

    class Pool:
        address = "cm"
        mode = "up"
        release = threading.Event()

        def query(self, ad_type, constraint, projection):
            if self.mode == "down":
                raise RuntimeError("Failed communication with collector.")
            if self.mode == "hang":
                self.release.wait(10)
                raise RuntimeError("Failed communication with collector.")
            return [{"Name": "slot1@x", "HTCMESOS_TASK_ID": "t1"}]

    pool = Pool()
    checker = make_checker("executor", {"HTCMESOS_TASK_ID": "t1"}, query_factory=lambda: pool)
    server = make_server("executor", checker, "127.0.0.1", 0, timeout_s=0.5,
                         tolerance=OutageTolerance("executor", 10, alive=lambda name: True))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d/health" % server.server_address[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        answers = []
        for mode in ("up", "down", "hang"):
            pool.mode = mode
            try:
                with opener.open(url, timeout=10) as resp:
                    answers.append((resp.status, json.loads(resp.read())["detail"]))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, json.loads(exc.read())["detail"]))
        assert [status for status, _ in answers] == [200, 200, 200], answers
        assert "unreachable" in answers[1][1] and "timed out" in answers[2][1]
    finally:
        pool.release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("ads, age", [
    ([{"StatsLifetime": 42, "MyCurrentTime": 1000}], 42.0),   # what a 23.9 collector has
    ([{"DaemonStartTime": 900, "MyCurrentTime": 1000}], 100.0),
    ([], 0.0),                     # answers, but has not advertised itself yet: just started
    ([{"MyCurrentTime": 1000}], None),
    (RuntimeError("gone"), None),
])
def test_collector_age(ads, age):
    from htcmesos_role.checks import collector_age

    class Query:
        address = "cm"

        def query(self, ad_type, constraint, projection):
            assert ad_type == "Collector"
            if isinstance(ads, Exception):
                raise ads
            return ads

    assert collector_age(Query()) == age
