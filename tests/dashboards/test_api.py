"""The REST API (/api/v1) through Flask's test client over the scripted pool: every route,
every refusal with its exact status and message, and nothing changed by a refusal."""
from __future__ import annotations

import json

import pytest

from framework.planner.decision import Code
from tests.dashboards.fakes import (AUTH, OTHER, TOKEN, app_for, book, everything, scripted,
                                    two_ticks)

BEARER = 'Bearer realm="htcmesos"'


@pytest.fixture
def pool():
    loop = scripted()
    two_ticks(loop)
    return loop, app_for(loop, book()).test_client()


def site_dc(**over):
    doc = {"name": "dc", "private": False,
           "executors": {"wanted": 3, "starting": 1, "running": 2, "idle": 0, "draining": 1},
           "jobs": {"idle": 2, "running": 4}, "bounds": {"min": 1, "max": 10},
           "desired": None, "drained": False, "held": None}
    doc.update(over)
    return doc


def test_status_is_the_last_tick_with_the_controls_of_now(pool):
    loop, client = pool
    r = client.get("/api/v1/status")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.json
    assert doc["pool"] == "p" and doc["backend"] == "sim" and doc["at"] == 1700000020.0
    assert (doc["fresh"], doc["snapshot_age_s"], doc["paused"]) == (False, 95.0, False)
    assert doc["error"] == "the collector at 10.1.0.2:9618 does not answer"
    assert doc["sites"][0] == site_dc()
    assert doc["sites"][1]["held"] == "black hole: 3 launches lost"
    assert doc["sites"][1]["private"] is True and doc["jobs_idle_any"] == 2
    assert doc["decision"] == {"at": 1700000020.0, "actions": [], "reasons": [
        {"code": "COVERED", "site": "dc", "detail": "2 idle jobs fit"}]}
    assert doc["operator"] == [] and doc["links"] == []
    assert client.get("/api/v1/sites").json == {"sites": doc["sites"]}
    assert client.get("/api/v1/sites/dc").json == site_dc()
    assert client.get("/api/v1/autoscaling").json == {"paused": False}


def test_before_the_first_tick_status_is_503_and_sites_show_the_bounds():
    loop = scripted()
    client = app_for(loop, book()).test_client()
    r = client.get("/api/v1/status")
    assert r.status_code == 503
    assert r.json == {"error": "pool p has not ticked yet: no status before the elastic "
                               "loop's first look at the pool"}
    zero = {"wanted": 0, "starting": 0, "running": 0, "idle": 0, "draining": 0}
    assert client.get("/api/v1/sites/campus").json == {
        "name": "campus", "private": True, "executors": zero, "jobs": {"idle": 0, "running": 0},
        "bounds": {"min": 0, "max": 4}, "desired": None, "drained": False, "held": None}
    assert client.get("/api/v1/history").json == {"points": []}
    assert client.get("/api/v1/decisions").json == {"decisions": []}


def test_history_decisions_and_tasks(pool):
    loop, client = pool
    points = client.get("/api/v1/history").json["points"]
    assert [p["at"] for p in points] == [1700000010.0, 1700000020.0]
    assert {k: v for k, v in points[0].items() if k != "sites"} == {
        "at": 1700000010.0, "jobs_idle": 8, "jobs_running": 0, "wanted": 3, "starting": 2,
        "running": 1}
    assert points[1]["sites"]["dc"] == {"jobs_idle": 2, "jobs_running": 4, "wanted": 3,
                                        "starting": 1, "running": 2}
    assert client.get("/api/v1/history?limit=1").json["points"] == points[1:]
    decisions = client.get("/api/v1/decisions").json["decisions"]
    assert [d["at"] for d in decisions] == [1700000020.0, 1700000010.0]   # newest first
    assert decisions[0]["errors"] == ["drain of slot1@h7 failed: timeout"]
    assert decisions[1] == {"at": 1700000010.0, "fresh": True, "actions": ["launch dc+2"],
                            "reasons": [{"code": "SCALE_UP", "site": "dc",
                                         "detail": "5 idle jobs: 2 executors more"},
                                        {"code": "SITE_HELD", "site": "campus",
                                         "detail": "black hole"}], "errors": []}
    loop.tick({}, notable=False)                      # not a decision: history only
    assert len(client.get("/api/v1/decisions?limit=50").json["decisions"]) == 2
    assert len(client.get("/api/v1/history").json["points"]) == 3
    tasks = client.get("/api/v1/tasks").json["tasks"]
    assert tasks[0] == {"id": "htcmesos-master-1", "role": "master", "site": "dc",
                        "state": "running", "healthy": True, "ip": "10.1.0.2",
                        "agent": "agent-1", "link": "http://mesos.example:5050/#/agents/"
                                                    "agent-1/frameworks/fw/executors/"
                                                    "htcmesos-master-1"}
    assert tasks[1]["link"] == "http://mesos.example:5050/#/agents/agent-2"   # no password
    assert tasks[2]["healthy"] is False and tasks[2]["link"] is None


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit must be a whole number ≥ 1, got '0'"),
    ("limit=-3", "limit must be a whole number ≥ 1, got '-3'"),
    ("limit=ten", "limit must be a whole number ≥ 1, got 'ten'"),
    ("limit=%C2%B2", "limit must be a whole number ≥ 1, got '²'"),
    ("since=5", "unknown query parameter 'since': it takes limit"),
    ("limit=1&limit=2", "limit is given 2 times: give it once"),
])
def test_bad_query_parameters_are_400_naming_them(pool, query, message):
    _, client = pool
    for path in ("/api/v1/history", "/api/v1/decisions"):
        r = client.get(f"{path}?{query}")
        assert (r.status_code, r.json) == (400, {"error": message})
    r = client.get("/api/v1/status?verbose=1")
    assert r.json == {"error": "unknown query parameter 'verbose': it takes none"}


MUTATIONS = [
    ("patch", "/api/v1/sites/dc", {"max": 5}),
    ("put", "/api/v1/sites/dc", {"max": 5}),
    ("post", "/api/v1/sites/dc/drain", None),
    ("post", "/api/v1/sites/dc/undrain", None),
    ("post", "/api/v1/nodes/htcmesos-executor-dc-1/drain", None),
    ("post", "/api/v1/autoscaling/pause", None),
    ("post", "/api/v1/autoscaling/resume", None),
]


@pytest.mark.parametrize("method, path, body", MUTATIONS)
def test_mutations_need_a_token_and_change_nothing_without(pool, method, path, body):
    loop, client = pool
    before, status = everything(loop), client.get("/api/v1/status").json
    call = getattr(client, method)
    for headers, message in [
            ({}, "a bearer token is required to change the pool (Authorization: Bearer "
                 "<a token of api.token_file>)"),
            ({"Authorization": "Bearer wrong-token"},
             "the bearer token is not one of api.token_file's"),
            ({"Authorization": f"Basic {TOKEN}"},
             "the bearer token is not one of api.token_file's"),
            ({"Authorization": f"Bearer {TOKEN}x"},
             "the bearer token is not one of api.token_file's")]:
        r = call(path, json=body, headers=headers)
        assert (r.status_code, r.json) == (401, {"error": message})
        assert r.headers["WWW-Authenticate"] == BEARER
    assert everything(loop) == before and client.get("/api/v1/status").json == status
    # no token file: changes are off, whatever the caller sends
    closed = app_for(loop, None).test_client()
    r = getattr(closed, method)(path, json=body, headers=AUTH)
    assert (r.status_code, r.json) == (403, {"error": "mutations are disabled: set "
                                                     "api.token_file"})
    assert everything(loop) == before


@pytest.mark.parametrize("body, kind, message", [
    ({"min": 5, "max": 3}, "json", "min 5 is above max 3 at site dc"),
    ({"min": 11}, "json", "min 11 is above max 10 at site dc"),
    ({"desired": 12}, "json", "desired 12 is above max 10 at site dc (it must be within "
                              "min 1 and max 10)"),
    ({"min": 1.5}, "json", "min must be a whole number ≥ 0, got 1.5"),
    ({"max": True}, "json", "max must be a whole number ≥ 0, got true"),
    ({"max": "3"}, "json", 'max must be a whole number ≥ 0, got "3"'),
    ({"min": -1}, "json", "min must be a whole number ≥ 0, got -1"),
    ({"desired": "queue"}, "json", 'desired must be a whole number ≥ 0 or null (the queue '
                                   'decides), got "queue"'),
    ({"size": 3}, "json", "unknown field 'size': it takes min, max, desired"),
    ({}, "json", "nothing to change: give min, max, desired"),
    ("", "raw", "nothing to change: give min, max, desired"),
    ("", "untyped", "nothing to change: give min, max, desired"),
    ([1, 2], "json", "the body must be a JSON object, not an array"),
    ("3", "json", "the body must be a JSON object, not a string"),
    ('{"min": 1', "raw", "the body is not valid JSON: Expecting ',' delimiter at line 1 "
                         "column 10"),
    ('{"min": 1, "min": 2}', "raw", "the body is not valid JSON: field 'min' is given twice"),
    ('{"max": NaN}', "raw", "the body is not valid JSON: NaN is not a JSON number"),
    (b'{"max": "\xff"}', "raw", "the body is not UTF-8"),
])
def test_bad_site_changes_are_400_saying_what_is_wrong(pool, body, kind, message):
    loop, client = pool
    before, status = everything(loop), client.get("/api/v1/status").json
    if kind == "json":
        r = client.patch("/api/v1/sites/dc", json=body, headers=AUTH)
    elif kind == "untyped":
        r = client.patch("/api/v1/sites/dc", data=body, headers=AUTH)
    else:
        r = client.patch("/api/v1/sites/dc", data=body, headers={
            **AUTH, "Content-Type": "application/json"})
    assert (r.status_code, r.json) == (400, {"error": message})
    assert everything(loop) == before and client.get("/api/v1/status").json == status


def test_bodies_of_the_wrong_type_or_size_are_refused(pool):
    loop, client = pool
    before = everything(loop)
    r = client.patch("/api/v1/sites/dc", data='{"max": 5}', headers=AUTH)
    assert (r.status_code, r.json) == (415, {"error": "the body must be JSON (Content-Type: "
                                                      "application/json), not untyped"})
    r = client.patch("/api/v1/sites/dc", data="max=5", headers={
        **AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "not application/x-www-form-urlencoded" in r.json["error"]
    big = json.dumps({"max": 5, "pad": "x" * (64 * 1024)})
    r = client.patch("/api/v1/sites/dc", data=big, headers={**AUTH, "Content-Type":
                                                            "application/json"})
    assert (r.status_code, r.json) == (413, {"error": f"a body of {len(big)} bytes; at most "
                                                      f"65536"})
    r = client.post("/api/v1/autoscaling/pause", json={"reason": "maintenance"}, headers=AUTH)
    assert (r.status_code, r.json) == (400, {"error": "unknown field 'reason': it takes no "
                                                      "field"})
    r = client.post("/api/v1/autoscaling/pause?now=1", headers=AUTH)
    assert (r.status_code, r.json) == (400, {"error": "unknown query parameter 'now': it "
                                                      "takes none"})
    assert everything(loop) == before


def test_unknown_sites_and_nodes_are_404_naming_them(pool):
    loop, client = pool
    before = everything(loop)
    expected = {"error": "no site 'lab' in this pool (its sites: campus, dc)"}
    for r in (client.get("/api/v1/sites/lab"),
              client.patch("/api/v1/sites/lab", json={"max": 3}, headers=AUTH),
              client.post("/api/v1/sites/lab/drain", headers=AUTH),
              client.post("/api/v1/sites/lab/undrain", headers=AUTH)):
        assert (r.status_code, r.json) == (404, expected)
    r = client.post("/api/v1/nodes/slot1@nowhere/drain", headers=AUTH)
    assert (r.status_code, r.json) == (404, {"error": "no live executor 'slot1@nowhere' in "
                                                      "pool p"})
    assert everything(loop) == before


def test_accepted_changes_answer_the_new_state_and_record_who(pool):
    loop, client = pool
    r = client.patch("/api/v1/sites/dc", data='{"min": 2, "desired": 4}',
                     headers={**AUTH, "Content-Type": "application/json; charset=utf-8"})
    assert (r.status_code, r.json) == (200, site_dc(bounds={"min": 2, "max": 10}, desired=4))
    r = client.put("/api/v1/sites/dc", json={"desired": None}, headers={
        "Authorization": f"bearer {OTHER}"})                    # the scheme in any case
    assert (r.status_code, r.json["desired"]) == (200, None)
    r = client.post("/api/v1/sites/campus/drain", headers=AUTH)
    assert (r.status_code, r.json) == (202, {"site": "campus", "message":
                                             "drain site campus"})
    assert client.get("/api/v1/sites/campus").json["drained"] is True
    r = client.post("/api/v1/sites/campus/undrain", json={}, headers=AUTH)
    assert (r.status_code, r.json["site"]) == (200, "campus")
    r = client.post("/api/v1/nodes/agent-2/drain", headers=AUTH)
    assert (r.status_code, r.json) == (202, {"node": "agent-2",
                                             "task_id": "htcmesos-executor-dc-1",
                                             "message": "drain node htcmesos-executor-dc-1"})
    assert loop.controls.node_drains == {"htcmesos-executor-dc-1"}
    r = client.post("/api/v1/autoscaling/pause", headers=AUTH)
    assert (r.status_code, r.json) == (200, {"paused": True})
    assert client.get("/api/v1/autoscaling").json == {"paused": True}
    assert client.post("/api/v1/autoscaling/resume", headers=AUTH).json == {"paused": False}
    operator = client.get("/api/v1/status").json["operator"]
    assert [(a["who"], a["action"]) for a in operator] == [
        ("alice@127.0.0.1", "resume"), ("alice@127.0.0.1", "pause"),
        ("alice@127.0.0.1", "drain_node"), ("alice@127.0.0.1", "undrain_site"),
        ("alice@127.0.0.1", "drain_site"), ("bob@127.0.0.1", "set_site"),
        ("alice@127.0.0.1", "set_site")]
    assert operator[-1]["what"] == "site dc: min 2, desired 4"
    assert operator[0]["at"] == 1700000020.0


def test_http_errors_are_json_with_allow_and_the_path(pool):
    _, client = pool
    r = client.delete("/api/v1/sites/dc", headers=AUTH)
    assert (r.status_code, r.json) == (405, {"error": "DELETE /api/v1/sites/dc: only GET, "
                                                      "PATCH, PUT"})
    assert r.headers["Allow"] == "GET, PATCH, PUT"
    r = client.get("/api/v1/autoscaling/pause")
    assert (r.status_code, r.headers["Allow"]) == (405, "POST")
    r = client.options("/api/v1/status")
    assert (r.status_code, r.headers["Allow"]) == (405, "GET")
    r = client.get("/api/v2/status")
    assert r.status_code == 404 and r.json["error"].startswith(
        "no such resource: /api/v2/status (see / for the dashboard, /api/v1/openapi.json")
    r = client.head("/api/v1/status")
    assert r.status_code == 200 and r.data == b""


def test_a_failing_source_is_a_500_that_says_what(pool):
    loop, client = pool

    def broken():
        raise RuntimeError("backend gone")

    loop.backend.tasks = broken
    r = client.get("/api/v1/tasks")
    assert (r.status_code, r.json) == (500, {"error": "internal error: RuntimeError: "
                                                      "backend gone"})


def test_reason_codes_of_the_status_are_the_planners(pool):
    _, client = pool
    codes = {r["code"] for d in client.get("/api/v1/decisions").json["decisions"]
             for r in d["reasons"]}
    assert codes <= {c.value for c in Code}


@pytest.mark.parametrize("body", ["[" * 50_000, '{"min": ' * 8_000, '{"a": [' * 6_000],
                         ids=["arrays", "objects", "both"])
def test_deeply_nested_bodies_are_400_not_a_crash(pool, body):
    loop, client = pool
    before = everything(loop)
    r = client.patch("/api/v1/sites/dc", data=body, headers={
        **AUTH, "Content-Type": "application/json"})
    assert (r.status_code, r.json) == (400, {"error": "the body is not valid JSON: it is "
                                                      "nested too deeply"})
    assert everything(loop) == before


@pytest.mark.parametrize("raw, message", [
    ("1" + "0" * 400, "max must be at most 1000000, got a number of 401 digits"),
    ("1000001", "max must be at most 1000000, got 1000001"),
], ids=["401 digits", "a million and one"])
def test_counts_beyond_any_pool_are_400_and_the_metrics_stay_readable(pool, raw, message):
    loop, client = pool
    before = everything(loop)
    r = client.patch("/api/v1/sites/dc", data=f'{{"max": {raw}}}', headers={
        **AUTH, "Content-Type": "application/json"})
    assert (r.status_code, r.json) == (400, {"error": message})
    assert everything(loop) == before
    assert client.get("/metrics").status_code == 200
    r = client.patch("/api/v1/sites/dc", json={"max": 1_000_000}, headers=AUTH)
    assert (r.status_code, r.json["bounds"]) == (200, {"min": 1, "max": 1_000_000})
    assert client.get("/metrics").status_code == 200


def test_a_limit_beyond_what_is_kept_gives_all_there_is(pool):
    _, client = pool
    for path, key in (("/api/v1/history", "points"), ("/api/v1/decisions", "decisions")):
        for limit in ("9" * 5000, "0" * 30 + "2", "4294967297"):
            r = client.get(f"{path}?limit={limit}")
            assert (r.status_code, len(r.json[key])) == (200, 2), (path, limit, r.json)
