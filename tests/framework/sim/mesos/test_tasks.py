"""Tasks through the emulated master: launch, agent updates and ACKs, kill, reconcile,
ACCEPT validation, invalid offers, filters, suppress/revive, teardown."""
from __future__ import annotations

import ipaddress
import time

from tests.framework.sim.rawclient import eventually, is_update, launch, task_info


def offers_of(stream, after: int = 0) -> list[dict]:
    return stream.wait_type("OFFERS", after=after)["offers"]["offers"]


def dc_offer(offers: list[dict]) -> dict:
    return next(o for o in offers if o["hostname"].startswith("dc-"))


def status_of(event: dict) -> dict:
    return event["update"]["status"]


def run_task(sched, stream, task_id: str, **kw) -> dict:
    """Launch one task on a dc agent, ACK through to RUNNING; its RUNNING status."""
    offer = dc_offer(offers_of(stream))
    assert sched.call("ACCEPT", launch([offer], [task_info(task_id, offer, **kw)])).status == 202
    for state in ("TASK_STARTING", "TASK_RUNNING"):
        status = status_of(stream.wait(is_update(task_id, state)))
        assert sched.ack(status).status == 202
    return status


def test_agent_updates_carry_uuid_and_wait_for_acks(sched):
    stream = sched.subscribe()
    offer = dc_offer(offers_of(stream))
    assert sched.call("ACCEPT", launch([offer], [task_info("t1", offer, health=True)])).status == 202
    starting = status_of(stream.wait(is_update("t1", "TASK_STARTING")))
    assert starting["source"] == "SOURCE_EXECUTOR" and len(starting["uuid"]) == 24
    assert starting["agent_id"] == offer["agent_id"]
    # strict agent: nothing more for this task until the ACK
    mark = stream.mark()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        assert not any(is_update("t1")(e) for e in stream.events[mark:])
        time.sleep(0.05)
    assert sched.ack(starting).status == 202
    running = status_of(stream.wait(is_update("t1", "TASK_RUNNING")))
    ip = running["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.1.0.0/16")
    assert running["container_status"]["network_infos"][0]["name"] == "calico-dc"
    assert sched.ack(running).status == 202
    healthy = status_of(stream.wait(lambda e: is_update("t1", "TASK_RUNNING")(e)
                                    and status_of(e).get("healthy") is True))
    assert healthy["uuid"] != running["uuid"]
    assert sched.ack(healthy).status == 202


def test_acknowledge_must_match_an_unacked_update(sched):
    stream = sched.subscribe()
    status = run_task(sched, stream, "t1")
    fake = dict(status, uuid="AAAAAAAAAAAAAAAAAAAAAA==")
    r = sched.ack(fake)
    assert r.status == 400 and "Cannot acknowledge" in r.text
    assert sched.ack(dict(status, task_id={"value": "nope"})).status == 400
    assert sched.ack(dict(status, uuid="c2hvcnQ=")).status == 400            # not 16 bytes
    assert sched.ack(status).status == 202                                    # duplicate: harmless


def test_unacked_updates_are_resent_periodically_and_on_resubscribe(schedulers, cluster):
    cluster.update_retry_s = 0.3
    sched = schedulers(failover_timeout=60.0)
    stream = sched.subscribe()
    offer = dc_offer(offers_of(stream))
    sched.call("ACCEPT", launch([offer], [task_info("t1", offer)]))
    first = status_of(stream.wait(is_update("t1", "TASK_STARTING")))
    again = status_of(stream.wait(is_update("t1", "TASK_STARTING"), after=stream.mark()))
    assert again["uuid"] == first["uuid"]                  # the same update, re-sent
    stream.close()
    assert eventually(lambda: not cluster.frameworks[sched.framework_id].connected)
    stream = sched.subscribe()
    assert status_of(stream.wait(is_update("t1", "TASK_STARTING")))["uuid"] == first["uuid"]
    assert sched.ack(first).status == 202
    stream.wait(is_update("t1", "TASK_RUNNING"))


def test_kill_reports_killing_only_to_frameworks_that_opted_in(schedulers):
    aware = schedulers(capabilities=[{"type": "TASK_KILLING_STATE"}])
    stream = aware.subscribe()
    run_task(aware, stream, "k1")
    assert aware.call("KILL", {"task_id": {"value": "k1"}}).status == 202
    killing = status_of(stream.wait(is_update("k1", "TASK_KILLING")))
    aware.ack(killing)
    killed = status_of(stream.wait(is_update("k1", "TASK_KILLED")))
    assert "uuid" in killed and aware.ack(killed).status == 202
    plain = schedulers()
    stream2 = plain.subscribe()
    run_task(plain, stream2, "k2")
    plain.call("KILL", {"task_id": {"value": "k2"}})
    stream2.wait(is_update("k2", "TASK_KILLED"))
    assert not any(is_update("k2", "TASK_KILLING")(e) for e in stream2.events)


def test_kill_of_unknown_task_is_answered_by_the_master(schedulers):
    plain, aware = schedulers(), schedulers(capabilities=[{"type": "PARTITION_AWARE"}])
    for sched, state in ((plain, "TASK_LOST"), (aware, "TASK_UNKNOWN")):
        stream = sched.subscribe()
        assert sched.call("KILL", {"task_id": {"value": "ghost"}}).status == 202
        status = status_of(stream.wait(is_update("ghost")))
        assert status["state"] == state and status["source"] == "SOURCE_MASTER"
        assert status["reason"] == "REASON_RECONCILIATION" and "uuid" not in status


def test_reconcile_explicit_and_implicit(schedulers, cluster):
    sched = schedulers(capabilities=[{"type": "PARTITION_AWARE"}])
    stream = sched.subscribe()
    running = run_task(sched, stream, "r1")
    agent = running["agent_id"]
    mark = stream.mark()
    assert sched.call("RECONCILE", {"tasks": [
        {"task_id": {"value": "r1"}}, {"task_id": {"value": "nope"}},
        {"task_id": {"value": "nope2"}, "agent_id": agent}]}).status == 202
    got = {status_of(stream.wait(is_update(t), after=mark))["task_id"]["value"]:
           status_of(stream.wait(is_update(t), after=mark)) for t in ("r1", "nope", "nope2")}
    assert got["r1"]["state"] == "TASK_RUNNING"
    assert got["r1"]["container_status"] == running["container_status"]
    assert got["nope"]["state"] == "TASK_UNKNOWN"
    assert got["nope2"]["state"] == "TASK_GONE"          # agent known, task not (as Mesos)
    for status in got.values():
        assert status["source"] == "SOURCE_MASTER" and status["reason"] == "REASON_RECONCILIATION"
        assert "uuid" not in status
    mark = stream.mark()
    assert sched.call("RECONCILE", {"tasks": []}).status == 202
    implicit = status_of(stream.wait(is_update("r1"), after=mark))
    assert implicit["state"] == "TASK_RUNNING" and "uuid" not in implicit


def test_accept_validation_answers_task_error(sched):
    stream = sched.subscribe()
    offers = [o for o in offers_of(stream) if o["hostname"].startswith("dc-")]
    offer = offers[0]
    tasks = [
        task_info("huge", offer, cpus=64),
        task_info("badports", offer, ports=[(80, 80)]),
        task_info("ok", offer, ports=[(31000, 31001)]),
        task_info("ok", offer),                                     # duplicate in this ACCEPT
        task_info("nonet", offer, network=None, container={"type": "DOCKER", "docker": {
            "image": "i", "network": "USER"}}),
        task_info("wrongnet", offer, network="calico-cloud"),
        task_info("twonets", offer, container={"type": "DOCKER", "docker": {"image": "i", "network": "USER"},
                                               "network_infos": [{"name": "calico-dc"}, {"name": "calico-dc"}]}),
        task_info("env", offer, command={"shell": False, "environment": {"variables": [{"name": "X"}]}}),
        task_info("mapping", offer, ports=[(31005, 31005)], container={
            "type": "DOCKER", "network_infos": [{"name": "calico-dc"}],
            "docker": {"image": "i", "network": "USER",
                       "port_mappings": [{"host_port": 31006, "container_port": 9618}]}}),
    ]
    assert sched.call("ACCEPT", launch([offer], tasks)).status == 202
    expected = {"huge": "more than available", "badports": "more than available",
                "nonet": "exactly one named network_infos", "wrongnet": "calico-cloud",
                "twonets": "exactly one", "env": "must have a value",
                "mapping": "Host port 31006"}
    for task_id, fragment in expected.items():
        status = status_of(stream.wait(is_update(task_id)))
        assert status["state"] == "TASK_ERROR", status
        assert status["source"] == "SOURCE_MASTER" and status["reason"] == "REASON_TASK_INVALID"
        assert fragment in status["message"] and "uuid" not in status
    dup = [status_of(e) for e in stream.events if is_update("ok", "TASK_ERROR")(e)]
    assert len(dup) == 1 and "duplicate ID" in dup[0]["message"]
    starting = status_of(stream.wait(is_update("ok", "TASK_STARTING")))
    assert "uuid" in starting
    # the same id again, in a later ACCEPT, is a duplicate of a live task
    sched.ack(starting)
    offer2 = offers[1]
    sched.call("ACCEPT", launch([offer2], [task_info("ok", offer2)]))
    assert "duplicate ID" in status_of(stream.wait(is_update("ok", "TASK_ERROR")))["message"]


def test_invalid_offers_make_lost_or_dropped_without_uuid(schedulers, cluster):
    for caps, state in (([], "TASK_LOST"), ([{"type": "PARTITION_AWARE"}], "TASK_DROPPED")):
        sched = schedulers(capabilities=caps)
        stream = sched.subscribe()
        offers = offers_of(stream)
        a, b = offers[0], offers[1]
        cases = {
            "unknown": launch([{**a, "id": {"value": "no-such-offer"}}], [task_info("unknown", a)]),
            "twoagents": launch([a, b], [task_info("twoagents", a)]),
            "dupoffer": launch([a, a], [task_info("dupoffer", a)]),
        }
        for task_id, body in cases.items():
            assert sched.call("ACCEPT", body).status == 202
            status = status_of(stream.wait(is_update(task_id)))
            assert status["state"] == state and status["reason"] == "REASON_INVALID_OFFERS"
            assert status["source"] == "SOURCE_MASTER" and "uuid" not in status
        # an offer already used
        c = offers_of(stream, after=0)[2]
        assert c["id"] not in (a["id"], b["id"])
        assert c["id"]["value"] in cluster.outstanding_offers(sched.framework_id)
        sched.call("ACCEPT", launch([c], [task_info("first", c, network=None)]))
        sched.call("ACCEPT", launch([c], [task_info("reused", c, network=None)]))
        reused = status_of(stream.wait(is_update("reused")))
        assert reused["state"] == state and "is no longer valid" in reused["message"]
        sched.call("TEARDOWN")


def test_unused_resources_return_with_refuse_filter(sched, cluster):
    stream = sched.subscribe()
    offer = dc_offer(offers_of(stream))
    agent = offer["agent_id"]["value"]
    mark = stream.mark()
    begin = time.monotonic()
    sched.call("ACCEPT", launch([offer], [task_info("t1", offer, cpus=1)], refuse_s=0.4))
    later = stream.wait(lambda e: e["type"] == "OFFERS" and any(
        o["agent_id"]["value"] == agent for o in e["offers"]["offers"]), after=mark)
    assert time.monotonic() - begin >= 0.35
    again = next(o for o in later["offers"]["offers"] if o["agent_id"]["value"] == agent)
    res = {r["name"]: r for r in again["resources"]}
    assert res["cpus"]["scalar"]["value"] == 3.0 and res["mem"]["scalar"]["value"] == 8192 - 64


def test_decline_filters_and_revive_clears_them(sched, cluster):
    stream = sched.subscribe()
    offers = offers_of(stream)
    sched.call("DECLINE", {"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 1000}})
    assert eventually(lambda: not cluster.outstanding_offers(sched.framework_id))
    mark = stream.mark()
    sched.call("DECLINE", {"offer_ids": [{"value": "gone"}]})     # ignored, as Mesos does
    sched.call("REVIVE")
    assert len(offers_of(stream, after=mark)) == 5
    mark = stream.mark()
    sched.call("DECLINE", {"offer_ids": [o["id"] for o in offers_of(stream, after=mark - 1)],
                           "filters": {"refuse_seconds": 0.3}})
    assert len(offers_of(stream, after=mark)) == 5                # back after the filter


def test_suppress_stops_offers_until_revive(sched, cluster):
    stream = sched.subscribe()
    offers = offers_of(stream)
    sched.call("SUPPRESS")
    sched.call("DECLINE", {"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 0}})
    mark = stream.mark()
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        assert not any(e["type"] == "OFFERS" for e in stream.events[mark:])
        time.sleep(0.05)
    sched.call("REVIVE", {"roles": ["*"]})
    assert len(offers_of(stream, after=mark)) == 5


def test_teardown_kills_tasks_and_removes_the_framework(sched, cluster):
    stream = sched.subscribe()
    run_task(sched, stream, "t1")
    assert sched.call("TEARDOWN").status == 202
    stream.wait_closed()
    state = cluster.state_json()
    assert state["frameworks"] == []
    assert sched.framework_id in [f["id"] for f in state["completed_frameworks"]]
    assert eventually(lambda: cluster.runner.live_tasks() == 0)
    again = sched.subscribe()
    assert again.events[0] == {"type": "ERROR", "error": {"message": "Framework has been removed"}}
    again.wait_closed()


def test_failover_timeout_keeps_then_removes(schedulers, cluster):
    sched = schedulers(failover_timeout=0.6)
    stream = sched.subscribe()
    run_task(sched, stream, "t1")
    stream.close()                                   # within the timeout: kept
    assert eventually(lambda: not cluster.frameworks[sched.framework_id].connected)
    stream = sched.subscribe()
    assert cluster.task_states(sched.framework_id) == {"t1": "TASK_RUNNING"}
    stream.close()                                   # now let it expire
    assert eventually(lambda: sched.framework_id in cluster.removed_frameworks, timeout=5)
    assert eventually(lambda: cluster.runner.live_tasks() == 0)
    again = sched.subscribe()
    assert again.events[0]["error"]["message"] == "Framework has been removed"


def test_black_hole_and_launch_failures(sched, cluster):
    cluster.black_hole("dc", after_s=0.1)
    stream = sched.subscribe()
    offers = [o for o in offers_of(stream) if o["hostname"].startswith("dc-")]
    run_task(sched, stream, "bh")
    failed = status_of(stream.wait(is_update("bh", "TASK_FAILED")))
    assert "black-hole" in failed["message"] and "uuid" in failed
    sched.ack(failed)
    cluster.clear_faults("dc")
    cluster.fail_at_launch("dc", count=1)
    offer = offers[1]
    sched.call("ACCEPT", launch([offer], [task_info("lf", offer)]))
    status = status_of(stream.wait(is_update("lf")))
    assert status["state"] == "TASK_FAILED" and status["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert status["source"] == "SOURCE_AGENT"
