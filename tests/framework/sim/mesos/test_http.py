"""Status codes of the emulated master's scheduler endpoint, in Mesos' order, over raw HTTP."""
from __future__ import annotations

import base64
import http.client
import json

import pytest

from framework.sim.mesos.master import EmulatedMaster
from tests.framework.sim.rawclient import Scheduler, Stream, eventually

JSON = {"Content-Type": "application/json"}
SUBSCRIBE = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}


def post(master: EmulatedMaster, body: bytes | dict, headers: dict[str, str] | None = None,
         method: str = "POST", path: str = "/api/v1/scheduler") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", master.port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=JSON if headers is None else headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text


def test_only_post_is_allowed(master):
    status, headers, _ = post(master, b"", {}, method="GET")
    assert status == 405 and headers["allow"] == "POST"


def test_content_type_json_only(master):
    assert post(master, SUBSCRIBE, {})[0] == 400                        # missing
    for ctype in ("application/x-protobuf", "text/plain", "application/json; charset=utf-8"):
        status, _, text = post(master, SUBSCRIBE, {"Content-Type": ctype})
        assert status == 415 and "JSON only" in text


def test_accept_must_allow_json(master):
    status, _, _ = post(master, SUBSCRIBE, {**JSON, "Accept": "application/x-protobuf"})
    assert status == 406


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "Failed to parse body into JSON"),
    ({"type": "FROBNICATE"}, "type"),
    ({"subscribe": SUBSCRIBE["subscribe"]}, "Expecting 'type'"),
    ({**SUBSCRIBE, "extra": 1}, "extra: unknown field"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "colour": "x"}}},
     "subscribe.framework_info.colour: unknown field"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u"}}}, "name: missing required"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n",
                                                            "failover_timeout": "soon"}}}, "number"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n",
                                                            "checkpoint": 1}}}, "true or false"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": 7, "name": "n"}}}, "string"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "u", "name": "n", "capabilities": [{"type": "TELEPATHY"}]}}}, "capabilities[0].type"),
    ({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "roles": "x"}}},
     "JSON array"),
    ({"type": "REVIVE", "framework_id": {"value": "f"}, "revive": {"role": "*"}}, "revive.role: unknown"),
    ({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": {"operations": [{"type": "LAUNCH", "launch": {
        "task_infos": [{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
                        "container": {"type": "DOCKER", "docker": {"image": "i"},
                                      "volumes": [{"container_path": "/x", "host_path": "/y"}]}}]}}]}},
     "volumes[0].mode: missing required"),
    ({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": {"operations": [{"type": "LAUNCH", "launch": {
        "task_infos": [{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
                        "resources": [{"name": "ports", "type": "RANGES",
                                       "ranges": {"range": [{"begin": 1.5, "end": 2}]}}]}]}}]}},
     "begin: expected an integer"),
    ({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": {"operations": [
        {"type": "LAUNCH", "launch": {"task_infos": {"name": "t"}}}]}}, "JSON array"),
])
def test_bad_bodies_are_400(master, body, fragment):
    status, _, text = post(master, body)
    assert status == 400, text
    assert fragment in text


def test_top_level_framework_id_must_equal_framework_info_id(master):
    body = {**SUBSCRIBE, "framework_id": {"value": "other"}}
    status, _, text = post(master, body)
    assert status == 400 and "differs" in text
    info = {"user": "u", "name": "n", "id": {"value": "abc"}}
    status, _, text = post(master, {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
    assert status == 400 and "differs" in text    # Mesos: an id in framework_info needs both


def test_subscribe_must_not_carry_a_stream_id(master):
    assert post(master, SUBSCRIBE, {**JSON, "Mesos-Stream-Id": "x"})[0] == 400


def test_call_rules(sched, master):
    sched.info["failover_timeout"] = 60.0
    stream = sched.subscribe()
    # missing framework_id, unknown framework, missing / wrong stream id
    assert sched.call("REVIVE", framework_id=None).status == 400
    r = sched.call("REVIVE", framework_id="no-such-framework")
    assert r.status == 400 and "cannot be found" in r.text
    assert sched.call("REVIVE", stream_id=None).status == 400
    assert sched.call("REVIVE", stream_id="0f0f0f0f-0000-4000-8000-000000000000").status == 400
    assert sched.call("REVIVE").status == 202
    # deep unknown field inside a TaskInfo, wrong type inside a resource
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
            "container": {"type": "DOCKER", "docker": {"image": "i", "volume": "x"}}}
    r = sched.call("ACCEPT", {"offer_ids": [], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
    assert r.status == 400 and "container.docker.volume: unknown field" in r.text
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": True}}]}
    r = sched.call("ACCEPT", {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
    assert r.status == 400 and "resources[0].scalar.value" in r.text
    r = sched.call("ACCEPT", {"operations": [{"type": "RESERVE"}]})
    assert r.status == 400 and "LAUNCH only" in r.text
    r = sched.call("ACKNOWLEDGE", {"agent_id": {"value": "a"}, "task_id": {"value": "t"}})
    assert r.status == 400 and "uuid: missing" in r.text
    assert sched.call("KILL", {}).status == 400
    assert sched.call("MESSAGE", {"agent_id": {"value": "a"}, "executor_id": {"value": "e"},
                                  "data": base64.b64encode(b"hi").decode()}).status == 202
    assert sched.call("REQUEST", {"requests": []}).status == 202
    # a disconnected framework is known but not subscribed: 403
    stream.close()
    assert eventually(lambda: sched.call("REVIVE", stream_id=stream.stream_id).status == 403)


def test_many_calls_on_one_keep_alive_connection(sched):
    sched.subscribe()
    sched.call("SUPPRESS")
    sock = sched.conn.sock
    for i in range(1500):
        assert sched.call("SUPPRESS" if i % 2 else "REVIVE").status == 202
    assert sched.conn.sock is sock    # never reconnected


def test_follower_redirects_with_protocol_relative_location(cluster, master):
    follower = EmulatedMaster(cluster, redirect_to=master.address).start()
    try:
        for method in ("POST", "GET"):   # Mesos redirects before it looks at the method
            status, headers, _ = post(follower, SUBSCRIBE, method=method)
            assert status == 307
            assert headers["location"] == f"//{master.address}/api/v1/scheduler"
        status, headers, _ = post(follower, b"", {}, method="GET", path="/master/redirect")
        assert status == 307 and headers["location"] == f"//{master.address}"
        status, headers, _ = post(follower, b"", {}, method="GET", path="/master/state")
        assert status == 307 and headers["location"] == f"//{master.address}/master/state"
    finally:
        follower.stop()


def test_no_leader_and_recovering_are_503(cluster, master):
    orphan = EmulatedMaster(cluster, redirect_to="").start()
    try:
        assert post(orphan, SUBSCRIBE)[0] == 503
        assert post(orphan, b"", {}, method="GET", path="/master/redirect")[0] == 503
    finally:
        orphan.stop()
    master.set_recovering(True)
    status, _, text = post(master, SUBSCRIBE)
    assert status == 503 and "recovery" in text
    master.set_recovering(False)
    stream = Stream("127.0.0.1", master.port, SUBSCRIBE)
    assert stream.status == 200
    stream.close()


def test_version_redirect_and_state(master, sched):
    status, _, text = post(master, b"", {}, method="GET", path="/version")
    assert status == 200 and json.loads(text)["version"] == "1.11.0"
    status, headers, _ = post(master, b"", {}, method="GET", path="/master/redirect")
    assert status == 307 and headers["location"] == f"//{master.address}"
    sched.subscribe()
    status, _, text = post(master, b"", {}, method="GET", path="/state")
    state = json.loads(text)
    assert [f["id"] for f in state["frameworks"]] == [sched.framework_id]
    assert len(state["agents"]) == 5 and state["leader"] == f"master@{master.address}"


def test_basic_auth(cluster):
    master = EmulatedMaster(cluster, credentials={"htcmesos": "s3cret"}).start()
    try:
        assert post(master, SUBSCRIBE)[0] == 401
        bad = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "n"}, auth=("htcmesos", "nope"))
        assert Stream("127.0.0.1", master.port, SUBSCRIBE, bad._auth_headers()).status == 401
        mismatch = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "u", "name": "n", "principal": "someone-else"}}}
        good = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "n"}, auth=("htcmesos", "s3cret"))
        stream = Stream("127.0.0.1", master.port, mismatch, good._auth_headers())
        assert stream.status == 400 and "does not match principal" in stream.body.decode()
        good.subscribe()
        assert good.call("REVIVE").status == 202
        assert master.cluster.state_json()["frameworks"][0]["principal"] == "htcmesos"
        assert good.call("REVIVE", headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()}).status == 401
        good.close()
    finally:
        master.stop()


def test_framework_info_rules_come_back_as_error_events(sched):
    sched.info = {"user": "u", "name": "n", "roles": ["a"]}      # roles without MULTI_ROLE
    stream = sched.subscribe()
    event = stream.events[0]
    assert event["type"] == "ERROR" and "MULTI_ROLE" in event["error"]["message"]
    stream.wait_closed()
    assert stream.ended
