"""The event stream: chunked RecordIO, SUBSCRIBED, HEARTBEAT, OFFERS shape, fail-over of a
stream, abrupt drops, stalls and raw (malformed) events."""
from __future__ import annotations

import json
import time

from framework.mesos.protocol import RecordIODecoder
from tests.framework.sim.rawclient import eventually


def test_subscribed_event_and_stream_header(sched, master):
    stream = sched.subscribe()
    assert stream.headers["transfer-encoding"] == "chunked"
    assert stream.headers["content-type"] == "application/json"
    assert len(stream.stream_id) == 36
    subscribed = stream.events[0]
    assert subscribed["type"] == "SUBSCRIBED"
    body = subscribed["subscribed"]
    assert body["heartbeat_interval_seconds"] == 0.2
    assert body["framework_id"]["value"] == sched.framework_id
    info = body["master_info"]
    assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": master.port}
    assert info["ip"] == 16777343 and info["pid"] == f"master@{master.address}"


def test_records_span_chunks_and_chunks_hold_several_records(sched, master):
    stream = sched.subscribe()
    stream.wait_type("OFFERS")
    for i in range(60):                     # a burst, queued faster than it is written
        master.send_raw(sched.framework_id, {"type": "MESSAGE", "message": {"n": i, "pad": "x" * (i * 7)}})
    stream.wait(lambda e: e.get("type") == "MESSAGE" and e["message"]["n"] == 59)
    # replay the chunks through the shared decoder: same records
    decoder = RecordIODecoder()
    decoded = [json.loads(r) for c in list(stream.chunks) for r in decoder.feed(c)]
    assert decoded[:len(stream.events)] == stream.events[:len(decoded)]
    bounds, total = set(), 0
    for chunk in list(stream.chunks):
        total += len(chunk)
        bounds.add(total)
    spanning = [r for r in stream.records if any(r[0] < b < r[1] for b in bounds)]
    assert spanning, "no record was split across chunks"
    starts = sorted(r[0] for r in stream.records)
    edges, total = [], 0
    for chunk in list(stream.chunks):
        edges.append((total, total + len(chunk)))
        total += len(chunk)
    assert any(sum(1 for s in starts if lo < s < hi) >= 2 for lo, hi in edges), \
        "no chunk held several records"


def test_heartbeats_follow_subscribed_then_every_interval(sched):
    stream = sched.subscribe()
    assert stream.wait_type("HEARTBEAT", timeout=0.15) is not None     # at once, as Mesos
    first = stream.mark()
    begin = time.monotonic()
    for _ in range(4):
        stream.wait_type("HEARTBEAT", after=stream.mark(), timeout=2.0)
    elapsed = time.monotonic() - begin
    assert 0.6 <= elapsed < 2.0, elapsed          # four more at 0.2 s
    assert stream.mark() > first


def test_offers_are_nested_twice_with_full_offer_json(sched, cluster):
    stream = sched.subscribe()
    event = stream.wait_type("OFFERS")
    assert list(event) == ["type", "offers"] and list(event["offers"]) == ["offers"]
    offers = event["offers"]["offers"]
    assert len(offers) == 5 and len({o["agent_id"]["value"] for o in offers}) == 5
    by_host = {o["hostname"]: o for o in offers}
    dc, cloud = by_host["dc-agent-0"], by_host["cloud-agent-3"]
    assert dc["framework_id"]["value"] == sched.framework_id
    assert dc["id"]["value"].startswith(cluster.cluster_id + "-O")
    assert dc["url"]["address"]["port"] == 5051 and dc["url"]["scheme"] == "http"
    assert dc["attributes"] == [{"name": "site", "type": "TEXT", "text": {"value": "dc"}}]
    assert "domain" not in dc
    assert cloud["domain"] == {"fault_domain": {"region": {"name": "eu-west"}, "zone": {"name": "eu-west-1a"}}}
    assert dc["allocation_info"] == {"role": "*"}
    res = {r["name"]: r for r in dc["resources"]}
    assert res["cpus"] == {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}, "role": "*",
                           "allocation_info": {"role": "*"}}
    assert res["ports"]["ranges"] == {"range": [{"begin": 31000, "end": 32000}]}
    assert res["mem"]["scalar"]["value"] == 8192.0 and res["disk"]["scalar"]["value"] == 10240.0


def test_one_outstanding_offer_per_agent_and_framework(sched, cluster):
    stream = sched.subscribe()
    stream.wait_type("OFFERS")
    sched.call("REVIVE")          # more allocation cycles: nothing new to offer
    time_limit = time.monotonic() + 0.3
    while time.monotonic() < time_limit:
        cluster.timers.poke()
        time.sleep(0.05)
    assert stream.count("OFFERS") == 1
    offered = [o["agent_id"]["value"] for e in stream.events if e["type"] == "OFFERS"
               for o in e["offers"]["offers"]]
    assert len(offered) == len(set(offered)) == 5


def test_second_subscribe_fails_over_the_first_stream(schedulers):
    first = schedulers(failover_timeout=60.0)
    old = first.subscribe()
    old.wait_type("OFFERS")
    second = schedulers(failover_timeout=60.0)
    second.framework_id = first.framework_id
    new = second.subscribe()
    assert new.stream_id != old.stream_id
    error = old.wait_type("ERROR")
    assert error["error"]["message"] == "Framework failed over"
    old.wait_closed()
    assert old.ended and not old.broken       # closed cleanly by the master
    assert first.call("REVIVE").status == 400  # the old stream id is no longer valid
    assert second.call("REVIVE").status == 202
    new.wait_type("OFFERS")                    # offers of the old stream were discarded


def test_drop_streams_cuts_without_final_chunk(sched, master, cluster):
    sched.info["failover_timeout"] = 60.0
    stream = sched.subscribe()
    stream.wait_type("OFFERS")
    assert master.drop_streams() == 1
    stream.wait_closed()
    assert stream.broken and not stream.ended
    assert eventually(lambda: sched.call("REVIVE").status == 403)
    assert cluster.outstanding_offers(sched.framework_id) == []
    again = sched.subscribe()
    assert again.wait_type("SUBSCRIBED")["subscribed"]["framework_id"]["value"] == sched.framework_id
    again.wait_type("OFFERS")


def test_stall_sends_nothing_until_resumed(sched, master):
    stream = sched.subscribe()
    stream.wait_type("OFFERS")
    master.stall()
    mark = stream.mark()
    sched.call("REVIVE")
    master.send_raw(sched.framework_id, {"type": "MESSAGE", "message": {"during": "stall"}})
    deadline = time.monotonic() + 0.8           # four heartbeat intervals of silence
    while time.monotonic() < deadline:
        assert stream.mark() <= mark + 1        # at most one record already in flight
        time.sleep(0.05)
    assert not stream.broken
    master.resume()
    stream.wait(lambda e: e["type"] == "MESSAGE", after=mark)
    stream.wait_type("HEARTBEAT", after=stream.mark())


def test_raw_events_reach_the_client_as_sent(sched, master):
    stream = sched.subscribe()
    fid = sched.framework_id
    assert master.send_raw(fid, b"{this is not json")
    assert master.send_raw(fid, {"type": "UPDATE", "update": {}})
    assert master.send_raw(fid, {"type": "SOMETHING_NEW", "something_new": {}})
    stream.wait(lambda e: e.get("type") == "SOMETHING_NEW")
    raw = [r[3] for r in stream.records]
    assert b"{this is not json" in raw
    assert {"type": "UPDATE", "update": {}} in stream.events
    assert master.send_raw(fid, b"x\n", framed=False)   # broken RecordIO
    stream.wait_closed()
    assert not master.send_raw("no-such-framework", {"type": "HEARTBEAT"})
