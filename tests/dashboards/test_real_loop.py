"""The API over the real elastic loop (ElasticLoop on the simulated pool), through the
framework's ApiServer on loopback: an operator's change reaches the planner, is logged
with who and what (never the token), and the CLUES pool refuses changes."""
from __future__ import annotations

import logging

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from framework.api.server import ApiServer
from framework.elastic import ElasticLoop
from framework.sim.pool import Job, SimPool, Timings
from framework.spec import parse_spec
from tests.dashboards.fakes import AUTH, TOKEN, book
# the CLUES tests' two-site pool (its driver filled in)
from tests.framework.clues.test_clues import SPEC_TEXT


@pytest.fixture
def served():
    spec = parse_spec(SPEC_TEXT % "htcmesos")
    pool = SimPool(["dc", "campus"], (4.0, 8192.0), [Job(1, 0.0, 600.0, 1, 1024, None)],
                   Timings(boot_s=10, claim_s=1, negotiation_s=5))
    wall = iter(float(1_700_000_000 + 5 * i) for i in range(1000))
    loop = ElasticLoop(spec, pool, pool, pool, wall=lambda: next(wall))
    server = ApiServer("127.0.0.1:0", loop, book()).start()
    yield pool, loop, server.url
    server.stop()


def test_a_desired_size_set_through_the_api_is_what_the_loop_launches(served, caplog):
    pool, loop, base = served
    caplog.set_level(logging.INFO)
    r = requests.get(f"{base}/api/v1/status", timeout=5)
    assert r.status_code == 503 and "has not ticked yet" in r.json()["error"]
    r = requests.patch(f"{base}/api/v1/sites/campus", json={"desired": 2}, headers=AUTH,
                       timeout=5)
    assert r.status_code == 200 and (r.json()["desired"], r.json()["bounds"]) == \
        (2, {"min": 0, "max": 2})
    loop.tick(0.0)
    status = requests.get(f"{base}/api/v1/status", timeout=5).json()
    campus = next(s for s in status["sites"] if s["name"] == "campus")
    assert campus["desired"] == 2 and campus["executors"]["wanted"] == 2
    assert sorted(e.site for e in pool.executors()).count("campus") == 2
    assert "DESIRED" in {r["code"] for r in status["decision"]["reasons"]}
    assert status["operator"][0]["who"] == "alice@127.0.0.1"
    assert "operator alice@127.0.0.1: set site campus desired=2" in caplog.text
    assert TOKEN not in caplog.text
    points = requests.get(f"{base}/api/v1/history", timeout=5).json()["points"]
    assert [p["sites"]["campus"]["wanted"] for p in points] == [2]
    assert requests.get(f"{base}/api/v1/tasks", timeout=5).json() == {"tasks": []}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(
                   requests.get(f"{base}/metrics", timeout=5).text) for s in f.samples}
    assert samples[("htcmesos_site_desired_executors",
                    (("pool", "p"), ("site", "campus")))] == 2
    assert samples[("htcmesos_operator_actions_total",
                    (("action", "set_site"), ("pool", "p")))] == 1


def test_refused_requests_change_nothing_in_the_loop(served):
    _, loop, base = served
    loop.tick(0.0)
    before = (loop.controls, loop.status.actions(), loop.status.totals())
    for method, path, body, status in [
            ("patch", "/api/v1/sites/dc", {"min": 5, "max": 3}, 400),
            ("patch", "/api/v1/sites/lab", {"max": 3}, 404),
            ("post", "/api/v1/nodes/slot1@nowhere/drain", None, 404)]:
        r = getattr(requests, method)(f"{base}{path}", json=body, headers=AUTH, timeout=5)
        assert r.status_code == status, r.text
        r = getattr(requests, method)(f"{base}{path}", json=body, timeout=5)
        assert r.status_code == 401
    assert (loop.controls, loop.status.actions(), loop.status.totals()) == before


def test_a_pool_clues_sizes_refuses_the_operators_changes():
    spec = parse_spec(SPEC_TEXT % "clues")
    pool = SimPool(["dc", "campus"], (4.0, 8192.0), [], Timings())
    loop = ElasticLoop(spec, pool, pool, pool)
    server = ApiServer("127.0.0.1:0", loop, book()).start()
    try:
        loop.tick(0.0)
        r = requests.post(f"{server.url}/api/v1/autoscaling/pause", headers=AUTH, timeout=5)
        assert r.status_code == 409 and "autoscaling.driver: clues" in r.json()["error"]
        assert loop.controls.paused is False and not loop.status.actions()
        r = requests.get(f"{server.url}/v1/clues/nodes", headers=AUTH, timeout=5)
        assert r.status_code == 200 and len(r.json()) == 12
    finally:
        server.stop()


def test_views_read_the_tasks_of_the_last_tick_and_never_ask_the_backend(served):
    from framework.backends.views import TaskView

    pool, loop, base = served
    asked = []

    def tasks():
        asked.append(1)
        return [TaskView("t-1", "executor", "dc", "running", True, "10.1.0.9", "a-1", None)]

    pool.tasks = tasks
    assert requests.get(f"{base}/api/v1/tasks", timeout=5).json() == {"tasks": []}
    loop.tick(0.0)
    for _ in range(2):
        assert requests.get(f"{base}/api/v1/tasks", timeout=5).json()["tasks"] == [
            {"id": "t-1", "role": "executor", "site": "dc", "state": "running",
             "healthy": True, "ip": "10.1.0.9", "agent": "a-1", "link": None}]
        assert 'htcmesos_tasks{' in requests.get(f"{base}/metrics", timeout=5).text
    assert len(asked) == 1


def test_each_answer_says_whether_the_change_was_saved_for_a_restart():
    """With a store (framework mode keeps one with its state), a change's answer says it
    was saved, or why not; the change applies either way."""
    from tests.framework.test_elastic_ops import MemoryStore

    spec = parse_spec(SPEC_TEXT % "htcmesos")
    pool = SimPool(["dc", "campus"], (4.0, 8192.0), [], Timings(boot_s=10, claim_s=1,
                                                               negotiation_s=5))
    store = MemoryStore()
    loop = ElasticLoop(spec, pool, pool, pool, controls_store=store)
    server = ApiServer("127.0.0.1:0", loop, book()).start()
    try:
        base = server.url + "/api/v1"
        r = requests.patch(f"{base}/sites/dc", json={"desired": 1}, headers=AUTH, timeout=5)
        assert r.status_code == 200 and r.json()["saved"] is True, r.text
        assert store.docs[-1]["sites"]["dc"]["desired"] == 1
        store.fail = "zk node /htcmesos/p: connection loss"
        r = requests.post(f"{base}/autoscaling/pause", headers=AUTH, timeout=5)
        assert r.status_code == 200 and r.json() == {
            "paused": True, "saved": False,
            "warning": r.json()["warning"]}, r.text
        assert "connection loss" in r.json()["warning"] and loop.controls.paused
        r = requests.post(f"{base}/sites/campus/drain", headers=AUTH, timeout=5)
        assert r.status_code == 202 and r.json()["saved"] is False
        assert not store.docs[-1]["paused"]          # the last saved is from before
    finally:
        server.stop()
