"""Two emulated masters elected through a real ZooKeeper (tests/services.py starts it)."""
from __future__ import annotations

import json
import re
import uuid

import pytest
from kazoo.client import KazooClient

from framework.mesos.protocol import ip_to_uint32, uint32_to_ip
from framework.sim.mesos.master import EmulatedMaster
from tests.framework.sim.rawclient import Scheduler, Stream, eventually, is_update
from tests.framework.sim.mesos.test_tasks import run_task, status_of

pytestmark = pytest.mark.zookeeper


@pytest.fixture
def zk_path(zookeeper) -> str:
    return f"/mesos-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kazoo(zookeeper):
    client = KazooClient(hosts=zookeeper.hosts, timeout=10)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


def test_ip_encoding_matches_mesos():
    assert ip_to_uint32("127.0.0.1") == 16777343
    assert uint32_to_ip(16777343) == "127.0.0.1"


def test_registration_election_and_takeover(cluster, zookeeper, zk_path, kazoo):
    url = f"zk://{zookeeper.hosts}{zk_path}"
    first = EmulatedMaster(cluster, heartbeat_s=0.2, zk=url).start()
    second = EmulatedMaster(cluster, heartbeat_s=0.2, zk=url).start()
    try:
        assert eventually(lambda: first.is_leader and second.leader_address() == first.address)
        children = sorted(kazoo.get_children(zk_path))
        assert len(children) == 2 and all(re.fullmatch(r"json\.info_\d{10}", c) for c in children)
        info = json.loads(kazoo.get(f"{zk_path}/{children[0]}")[0])
        assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": first.port}
        assert info["ip"] == ip_to_uint32("127.0.0.1") and info["port"] == first.port
        assert info["pid"] == f"master@127.0.0.1:{first.port}" and info["version"] == "1.11.0"
        assert info["id"] == first.id

        # the follower redirects; a framework on the leader runs a task
        redirected = Stream("127.0.0.1", second.port, {"type": "SUBSCRIBE", "subscribe": {
            "framework_info": {"user": "u", "name": "n"}}})
        assert redirected.status == 307
        assert redirected.headers["location"] == f"//{first.address}/api/v1/scheduler"
        sched = Scheduler("127.0.0.1", first.port, {"user": "u", "name": "ha", "failover_timeout": 60.0})
        stream = sched.subscribe()
        run_task(sched, stream, "t1")

        # the leader stops: its znode vanishes, the follower takes over, knowing no agent
        # until it re-registers (held here; Mesos: a second or two)
        cluster.hold_agents(cluster.agent_ids())
        first.stop()
        stream.wait_closed()
        assert eventually(lambda: second.is_leader, timeout=15)
        assert [c for c in kazoo.get_children(zk_path)] == [children[1]]
        sched.close()
        sched.port, sched.conn = second.port, None
        stream = sched.subscribe()          # same id: the framework re-registers
        assert stream.events[0]["type"] == "SUBSCRIBED"
        assert stream.events[0]["subscribed"]["master_info"]["port"] == second.port
        mark = stream.mark()
        sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "t1"}}]})
        sched.call("RECONCILE", {"tasks": []})
        # no answer for t1 while agents are away (Master::_reconcileTasks case 3), and the
        # implicit reconciliation leaves it out: the first updates after are for "t0"
        sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "t0"},
                                            "agent_id": {"value": "no-such-agent"}}]})
        first_update = status_of(stream.wait(lambda e: e.get("type") == "UPDATE", after=mark))
        assert first_update["task_id"]["value"] == "t0"
        assert first_update["state"] == "TASK_LOST"         # not partition-aware, (7)
        for agent_id in cluster.agent_ids():
            cluster.reregister(agent_id)
        mark = stream.mark()
        sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "t1"}}]})
        assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == "TASK_RUNNING"
        stream.wait_type("OFFERS")
        sched.close()
    finally:
        first.stop()
        second.stop()


def test_pymesos_detector_finds_the_leader(cluster, zookeeper, zk_path):
    from pymesos.detector import MasterDetector

    found: list[str] = []

    class Agent:
        def onNewMasterDetectedMessage(self, data):  # noqa: N802 - pymesos' name
            found.append(data)

        def onNoMasterDetectedMessage(self):  # noqa: N802
            pass

    master = EmulatedMaster(cluster, zk=f"zk://{zookeeper.hosts}{zk_path}").start()
    detector = MasterDetector(f"{zookeeper.hosts}{zk_path}", Agent())
    try:
        detector.start()
        assert eventually(lambda: bool(found))
        info = json.loads(found[0])
        assert f"{info['address']['ip']}:{info['address']['port']}" == master.address
    finally:
        detector.stop()
        master.stop()
