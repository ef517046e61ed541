"""10,000 agents: an allocation cycle, one OFFERS event of 10k offers, a burst of launches.

How fast this goes is measured in bench/bench_emulator.py, not asserted here."""
from __future__ import annotations

from typing import Any

import pytest

from framework.mesos.protocol import encode_record
from framework.sim.mesos.cluster import SimCluster
from framework.sim.mesos.master import EmulatedMaster
from framework.sim.mesos.model import SiteLayout
from tests.framework.sim.rawclient import Scheduler, launch, task_info

AGENTS = 10_000


class FakeStream:
    """Collects events (encoded, as the real stream would) without HTTP."""

    def __init__(self, master: Any) -> None:
        self.master, self.stream_id = master, "fake"
        self.events: list[dict[str, Any]] = []

    def send(self, event, framed: bool = True) -> None:
        encode_record(event)             # every event must encode
        self.events.append(event)

    def close(self, error: str | None = None) -> None:
        pass

    def start_heartbeats(self) -> None:
        pass


class FakeMaster:
    heartbeat_s = 15.0

    def master_info(self) -> dict:
        return {"id": "fake"}


@pytest.fixture(scope="module")
def big() -> SimCluster:
    cluster = SimCluster.build([SiteLayout("a", agents=AGENTS // 2), SiteLayout("b", agents=AGENTS // 2)],
                               seed=11, allocation_interval_s=3600.0)
    assert len(cluster.agents) == AGENTS
    yield cluster
    cluster.close()


def test_allocation_cycle_and_offers_event_over_10k_agents(big):
    master = FakeMaster()
    stream = FakeStream(master)
    with big.lock:
        assert big.subscribe(master, stream, {"framework_info": {"user": "u", "name": "scale"}}) is not None
        big.leader = master
        big.allocate_locked()
    offers = [e for e in stream.events if e["type"] == "OFFERS"]
    assert len(offers) == 1 and len(offers[0]["offers"]["offers"]) == AGENTS
    assert len({o["agent_id"]["value"] for o in offers[0]["offers"]["offers"]}) == AGENTS
    with big.lock:     # a second cycle with everything offered offers nothing new
        big.allocate_locked()
    assert len([e for e in stream.events if e["type"] == "OFFERS"]) == 1
    big.remove_framework(big.frameworks[stream.events[0]["subscribed"]["framework_id"]["value"]])
    big.leader = None


def test_10k_offers_over_http_and_a_burst_of_launches(big):
    master = EmulatedMaster(big, heartbeat_s=5.0).start()
    sched = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "scale-http"})
    try:
        stream = sched.subscribe()
        offers = stream.wait_type("OFFERS", timeout=30)["offers"]["offers"]
        assert len(offers) == AGENTS
        for i, offer in enumerate(offers[:500]):
            body = launch([offer], [task_info(f"t{i}", offer, network="calico-a" if offer["hostname"]
                                              .startswith("a-") else "calico-b")])
            assert sched.call("ACCEPT", body).status == 202
        stream.wait(lambda e: e.get("type") == "UPDATE"
                    and e["update"]["status"]["task_id"]["value"] == "t499", timeout=30)
    finally:
        sched.close()
        master.stop()
