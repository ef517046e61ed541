"""RecordIO framing, resources, detector helpers, URL handling."""
from __future__ import annotations

import json
import random

import pytest

from framework.mesos.detector import leader_child, master_address, parse_zk_url
from framework.mesos.driver import _host_port
from framework.mesos.protocol import (RecordIODecoder, RecordIOError, Resources, TaskState,
                                      attribute_value, encode_record, ranges, scalar)


def test_recordio_any_chunking_yields_the_same_records():
    events = [{"type": "HEARTBEAT"}, {"type": "OFFERS", "offers": {"offers": [{"x": "é" * 50}]}},
              {"type": "UPDATE", "update": {"status": {"state": "TASK_RUNNING"}}}]
    stream = b"".join(encode_record(e) for e in events)
    rng = random.Random(3)
    for _ in range(50):
        dec, got, pos = RecordIODecoder(), [], 0
        while pos < len(stream):
            step = rng.randint(1, 7)
            got += [json.loads(r) for r in dec.feed(stream[pos:pos + step])]
            pos += step
        assert got == events


def test_recordio_rejects_garbage():
    with pytest.raises(RecordIOError):
        list(RecordIODecoder().feed(b"abc\n{}"))
    with pytest.raises(RecordIOError):
        list(RecordIODecoder().feed(b"x" * 30))


def test_resources_parse_and_back():
    res = Resources.parse([scalar("cpus", 2), scalar("cpus", 1.5), scalar("mem", 512),
                           ranges("ports", [(31000, 31010), (30000, 30000)]),
                           {"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}}])
    assert res == Resources(3.5, 512, 0, ((30000, 30000), (31000, 31010)))
    assert res.port_count() == 12
    assert Resources.parse(res.to_list()) == res


def test_task_states():
    assert TaskState("TASK_LOST").terminal and not TaskState("TASK_RUNNING").terminal
    assert TaskState.UNREACHABLE.short == "UNREACHABLE"
    with pytest.raises(ValueError):
        TaskState("TASK_SLEEPING")


def test_attribute_values():
    assert attribute_value({"type": "TEXT", "text": {"value": "dc"}}) == "dc"
    assert attribute_value({"type": "SCALAR", "scalar": {"value": 2.0}}) == "2"
    assert attribute_value({"type": "SET", "set": {"item": ["a", "b"]}}) == "a,b"
    assert attribute_value({"type": "WEIRD"}) is None


def test_zk_urls_and_leader_choice():
    assert parse_zk_url("zk://h1:2181,h2:2181/mesos") == ("h1:2181,h2:2181", "/mesos")
    with pytest.raises(ValueError):
        parse_zk_url("zk://h1:2181")
    assert leader_child(["log_replicas", "json.info_0000000012", "json.info_0000000003",
                         "info_0000000001"]) == "json.info_0000000003"
    assert leader_child(["log_replicas"]) is None


def test_master_info_address():
    assert master_address({"address": {"ip": "10.0.0.2", "port": 5050}}) == "10.0.0.2:5050"
    assert master_address({"ip": 16777343, "port": 5051}) == "127.0.0.1:5051"
    with pytest.raises(ValueError):
        master_address({"hostname": "x"})


@pytest.mark.parametrize("url,expected", [
    ("http://m1:5050", "m1:5050"), ("//m2:5051/api/v1/scheduler", "m2:5051"),
    ("m3", "m3:5050"), ("https://m4:443/x", "m4:443"),
])
def test_host_port(url, expected):
    assert _host_port(url) == expected
