"""Cluster-level behaviour: agent loss, rescinds, region filtering, new agents, and the
simulated runner on a manual clock."""
from __future__ import annotations

import threading
import time

import pytest

from framework.clock import ManualClock
from framework.mesos.protocol import TaskState
from framework.sim.mesos.master import EmulatedMaster
from framework.sim.mesos.model import SiteLayout
from framework.sim.runner import AgentInfo, StatusSink, TaskReport
from framework.sim.simrunner import SimTaskRunner
from tests.framework.sim.conftest import make_cluster
from tests.framework.sim.rawclient import Scheduler, eventually, is_update, launch, task_info
from tests.framework.sim.mesos.test_tasks import dc_offer, offers_of, run_task, status_of


@pytest.mark.parametrize("caps, state", [([], "TASK_LOST"),
                                         ([{"type": "PARTITION_AWARE"}], "TASK_UNREACHABLE")])
def test_agent_loss(schedulers, cluster, caps, state):
    sched = schedulers(capabilities=caps)
    stream = sched.subscribe()
    running = run_task(sched, stream, "t1")
    agent = running["agent_id"]["value"]
    outstanding = [o for o in cluster.outstanding_offers(sched.framework_id)]
    other = next(a for a in cluster.agent_ids("dc") if a != agent)
    other_offer = next(i for i in outstanding if cluster.offers[i].agent_id == other)
    mark = stream.mark()
    cluster.lose_agent(agent)
    cluster.lose_agent(other)
    lost = status_of(stream.wait(is_update("t1"), after=mark))
    assert lost["state"] == state and lost["source"] == "SOURCE_MASTER"
    assert lost["reason"] == "REASON_AGENT_REMOVED" and "uuid" not in lost
    assert ("unreachable_time" in lost) == (state == "TASK_UNREACHABLE")
    stream.wait(lambda e: e["type"] == "FAILURE" and e["failure"]["agent_id"]["value"] == other, after=mark)
    failures = {e["failure"]["agent_id"]["value"] for e in stream.events[mark:] if e["type"] == "FAILURE"}
    assert failures == {agent, other}
    rescinds = [e["rescind"]["offer_id"]["value"] for e in stream.events[mark:] if e["type"] == "RESCIND"]
    assert other_offer in rescinds
    # never offered again; reconcile names it unreachable (or lost)
    left = [{"value": i} for i in cluster.outstanding_offers(sched.framework_id)]
    assert len(left) == 3
    mark = stream.mark()
    sched.call("DECLINE", {"offer_ids": left, "filters": {"refuse_seconds": 0}})
    fresh = offers_of(stream, after=mark)
    assert len(fresh) == 3 and {o["agent_id"]["value"] for o in fresh}.isdisjoint({agent, other})
    mark = stream.mark()
    sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "t1"}, "agent_id": {"value": agent}}]})
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == state
    assert cluster.task_states(sched.framework_id) == {}


def test_rescind_one_and_all(sched, cluster):
    stream = sched.subscribe()
    offers = offers_of(stream)
    first = offers[0]["id"]["value"]
    mark = stream.mark()
    assert cluster.rescind(first) == [first]
    event = stream.wait_type("RESCIND", after=mark)
    assert event == {"type": "RESCIND", "rescind": {"offer_id": {"value": first}}}
    sched.call("ACCEPT", launch([offers[0]], [task_info("late", offers[0])]))
    status = status_of(stream.wait(is_update("late")))
    assert status["state"] == "TASK_LOST" and status["reason"] == "REASON_INVALID_OFFERS"
    rescinded = cluster.rescind_all()
    assert len(rescinded) >= 4
    assert eventually(lambda: stream.count("RESCIND") >= 1 + len(rescinded))


def test_region_filtering(schedulers):
    cluster = make_cluster(region="eu-central")
    master = EmulatedMaster(cluster, heartbeat_s=0.2).start()
    try:
        plain = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "plain"})
        aware = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "aware",
                                                     "capabilities": [{"type": "REGION_AWARE"}]})
        stream = plain.subscribe()
        hosts = {o["hostname"] for o in offers_of(stream)}
        assert hosts == {"dc-agent-0", "dc-agent-1", "dc-agent-2"}     # not eu-west
        stream2 = aware.subscribe()
        offered = {o["hostname"]: o for o in offers_of(stream2)}
        assert set(offered) == {"cloud-agent-3", "cloud-agent-4"}
        assert offered["cloud-agent-3"]["domain"]["fault_domain"]["region"]["name"] == "eu-west"
        info = stream.events[0]["subscribed"]["master_info"]
        assert info["domain"]["fault_domain"]["region"]["name"] == "eu-central"
        plain.close()
        aware.close()
    finally:
        master.stop()
        cluster.close()


def test_added_agent_is_offered(sched, cluster):
    stream = sched.subscribe()
    offers_of(stream)
    mark = stream.mark()
    new = cluster.add_agent("cloud", hostname="burst-1")
    offer = offers_of(stream, after=mark)[0]
    assert offer["agent_id"]["value"] == new and offer["hostname"] == "burst-1"
    assert offer["attributes"][0]["text"]["value"] == "cloud"


def test_start_delay_per_site(sched, cluster):
    cluster.set_start_delay("dc", starting_s=0.3, running_s=0.0)
    stream = sched.subscribe()
    offer = dc_offer(offers_of(stream))
    mark = stream.mark()
    sched.call("ACCEPT", launch([offer], [task_info("slow", offer)]))
    import time
    begin = time.monotonic()
    stream.wait(is_update("slow", "TASK_STARTING"), after=mark)
    assert time.monotonic() - begin >= 0.25


class Collect(StatusSink):
    def __init__(self) -> None:
        self.reports: list[TaskReport] = []
        self.changed = threading.Condition()

    def report(self, agent_id: str, report: TaskReport) -> None:
        with self.changed:
            self.reports.append(report)
            self.changed.notify_all()

    def states(self) -> list[str]:
        with self.changed:
            return [r.state.short + ("+healthy" if r.healthy else "") for r in self.reports]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[str]:
        assert eventually(lambda: len(self.reports) >= n, timeout), self.states()
        return self.states()


AGENT = AgentInfo("a1", "h1", "dc", {"calico-dc": "10.1.0.0/30"})


def sim_task(task_id: str, network: str | None = "calico-dc", health: bool = False) -> dict:
    offer = {"agent_id": {"value": "a1"}}
    return task_info(task_id, offer, network=network, health=health)


def test_simrunner_follows_a_manual_clock():
    clock = ManualClock()
    runner = SimTaskRunner(clock, seed=3, starting_s=1.0, running_s=2.0, healthy_s=0.5, kill_s=1.0)
    sink = Collect()
    try:
        runner.launch(AGENT, sim_task("t", health=True), sink)
        runner.timers.poke()
        assert sink.states() == []
        clock.advance(1.0)
        runner.timers.poke()
        assert sink.wait_for(1) == ["STARTING"]
        clock.advance(2.0)
        assert sink.wait_for(2) == ["STARTING", "RUNNING"]
        assert sink.reports[1].ip_address == "10.1.0.1"
        clock.advance(0.5)
        assert sink.wait_for(3)[-1] == "RUNNING+healthy"
        runner.kill(AGENT, "t", grace_s=5.0, sink=sink)
        assert sink.wait_for(4)[-1] == "KILLING"
        clock.advance(1.0)
        assert sink.wait_for(5)[-1] == "KILLED"
        assert runner.live_tasks() == 0
    finally:
        runner.close()


def test_simrunner_networks_and_faults():
    clock = ManualClock()
    runner = SimTaskRunner(clock, seed=3, starting_s=0.0, running_s=0.0)
    sink = Collect()
    try:
        runner.launch(AGENT, sim_task("nonet", network="calico-elsewhere"), sink)
        assert sink.wait_for(1) == ["FAILED"] and "calico-elsewhere" in sink.reports[0].message
        # a /30 has two addresses: the third task fails, then an address comes back
        runner.launch(AGENT, sim_task("a"), sink)
        runner.launch(AGENT, sim_task("b"), sink)
        runner.launch(AGENT, sim_task("c"), sink)
        states = sink.wait_for(6)
        assert states.count("RUNNING") == 2 and states.count("FAILED") == 2
        assert runner.finish("a1", "a")
        sink.wait_for(7)
        assert sink.reports[-1].state == TaskState.FINISHED
        runner.launch(AGENT, sim_task("d"), sink)
        sink.wait_for(9)
        assert sink.reports[-1].state == TaskState.RUNNING and sink.reports[-1].ip_address
        runner.fail_at_launch("dc", count=1)
        runner.launch(AGENT, sim_task("e", network=None), sink)
        runner.launch(AGENT, sim_task("f", network=None), sink)
        states = sink.wait_for(12)
        assert [r.state.short for r in sink.reports if r.task_id == "e"] == ["FAILED"]
        assert [r.state.short for r in sink.reports if r.task_id == "f"] == ["STARTING", "RUNNING"]
        runner.lose_agent(AGENT)
        assert runner.live_tasks() == 0
    finally:
        runner.close()


def test_layout_shapes_agents():
    cluster = make_cluster(sites=[SiteLayout("x", agents=2, cpus=1.5, mem=512, ports=(1000, 1009),
                                             attributes={"site": "x", "rack": 7})])
    try:
        state = cluster.state_json()
        assert [a["hostname"] for a in state["agents"]] == ["x-agent-0", "x-agent-1"]
        assert state["agents"][0]["attributes"] == {"site": "x", "rack": 7.0}
        assert state["agents"][0]["resources"]["cpus"] == 1.5
        agent = cluster.agents[cluster.agent_ids()[0]]
        assert agent.total.ports == ((1000, 1009),) and agent.networks == {"calico-x": "10.1.0.0/16"}
    finally:
        cluster.close()


def partition_aware_with_t1(schedulers):
    """A PARTITION_AWARE scheduler with task t1 running: (scheduler, stream, agent id)."""
    sched = schedulers(capabilities=[{"type": "PARTITION_AWARE"}])
    stream = sched.subscribe()
    return sched, stream, run_task(sched, stream, "t1")["agent_id"]["value"]


def reconcile_t1(sched, agent: str) -> None:
    """An explicit RECONCILE of t1 on ``agent``."""
    sched.call("RECONCILE", {"tasks": [{"task_id": {"value": "t1"}, "agent_id": {"value": agent}}]})


@pytest.mark.parametrize("caps, state", [([], "TASK_LOST"),
                                         ([{"type": "PARTITION_AWARE"}], "TASK_UNREACHABLE")])
def test_a_partitioned_agent_misses_pings_then_comes_back(schedulers, cluster, caps, state):
    """src/tests/partition_tests.cpp: unreachable after max_agent_ping_timeouts pings; on
    re-registration the task runs on and is reported TASK_RUNNING (PA or not, Mesos ≥ 1.5)."""
    cluster.agent_ping_timeout_s, cluster.max_agent_ping_timeouts = 0.05, 4
    sched = schedulers(capabilities=caps)
    stream = sched.subscribe()
    agent = run_task(sched, stream, "t1")["agent_id"]["value"]
    def there() -> list[str]:
        return [i for i in cluster.outstanding_offers(sched.framework_id)
                if cluster.offers[i].agent_id == agent]
    assert eventually(lambda: bool(there()))
    offers_there = there()
    mark = stream.mark()
    cluster.partition_agent(agent)
    # its offers are taken back at once; the task is answered RUNNING until the timeout
    for offer_id in offers_there:
        stream.wait(lambda e, o=offer_id: e["type"] == "RESCIND"
                    and e["rescind"]["offer_id"]["value"] == o, after=mark)
    update = status_of(stream.wait(is_update("t1"), after=mark))
    assert update["state"] == state and update["source"] == "SOURCE_MASTER"
    assert update["reason"] == "REASON_AGENT_REMOVED" and "unreachable_time" in update
    assert "health check timed out" in update["message"]
    stream.wait(lambda e: e["type"] == "FAILURE"
                and e["failure"]["agent_id"]["value"] == agent, after=mark)
    mark = stream.mark()
    reconcile_t1(sched, agent)
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == state
    # a KILL never reaches it (answered as reconciliation would): it runs on
    mark = stream.mark()
    sched.call("KILL", {"task_id": {"value": "t1"}, "agent_id": {"value": agent}})
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == state
    mark = stream.mark()
    cluster.heal_agent(agent)
    back = status_of(stream.wait(is_update("t1"), after=mark))
    assert back["state"] == "TASK_RUNNING" and back["agent_id"]["value"] == agent
    assert cluster.task_states(sched.framework_id) == {"t1": "TASK_RUNNING"}
    assert [e for e, _ in cluster.partition_log] == ["partitioned", "unreachable", "healed",
                                                     "returned"]
    stream.wait(lambda e: e["type"] == "OFFERS" and any(
        o["agent_id"]["value"] == agent for o in e["offers"]["offers"]), after=mark)


def test_a_partition_that_heals_in_time_sends_the_held_updates(schedulers, cluster):
    cluster.agent_ping_timeout_s = 60.0
    sched, stream, agent = partition_aware_with_t1(schedulers)
    cluster.partition_agent(agent)
    framework_id = sched.framework_id
    mark = stream.mark()
    assert cluster.finish_task(framework_id, "t1", TaskState.FINISHED)   # behind the cut
    # the master still answers the latest state it has: RUNNING; the end waits on the agent
    reconcile_t1(sched, agent)
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == "TASK_RUNNING"
    assert [status_of(e)["state"] for e in stream.events[mark:] if e["type"] == "UPDATE"] \
        == ["TASK_RUNNING"]
    mark = stream.mark()
    cluster.heal_agent(agent)
    done = status_of(stream.wait(is_update("t1"), after=mark))
    assert done["state"] == "TASK_FINISHED" and "uuid" in done          # the agent's own
    assert [e for e, _ in cluster.partition_log] == ["partitioned", "healed"]


def test_the_operator_marks_an_unreachable_agent_gone(schedulers, cluster):
    cluster.agent_ping_timeout_s, cluster.max_agent_ping_timeouts = 0.05, 2
    sched, stream, agent = partition_aware_with_t1(schedulers)
    mark = stream.mark()
    cluster.partition_agent(agent)
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == "TASK_UNREACHABLE"
    mark = stream.mark()
    cluster.mark_agent_gone(agent)
    gone = status_of(stream.wait(is_update("t1"), after=mark))
    assert gone["state"] == "TASK_GONE_BY_OPERATOR"
    assert gone["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
    mark = stream.mark()
    reconcile_t1(sched, agent)
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == "TASK_GONE_BY_OPERATOR"
    cluster.heal_agent(agent)                      # a gone agent never comes back
    assert cluster.task_states(sched.framework_id) == {} and agent not in cluster.agent_ids()
    assert [e for e, _ in cluster.partition_log] == ["partitioned", "unreachable", "gone"]


def test_a_kill_sent_behind_a_partition_reaches_the_agent_when_it_returns(schedulers, cluster):
    """Mesos keeps the KILL (``Slave::killedTasks``) and sends it on re-registration."""
    cluster.agent_ping_timeout_s = 60.0
    sched, stream, agent = partition_aware_with_t1(schedulers)
    cluster.partition_agent(agent)
    sched.call("KILL", {"task_id": {"value": "t1"}, "agent_id": {"value": agent}})
    mark = stream.mark()
    reconcile_t1(sched, agent)
    assert status_of(stream.wait(is_update("t1"), after=mark))["state"] == "TASK_RUNNING"
    mark = stream.mark()
    cluster.heal_agent(agent)
    stream.wait(lambda e: is_update("t1")(e) and status_of(e)["state"] == "TASK_KILLED",
                after=mark)


def test_a_leader_change_during_a_partition_waits_for_the_reregister_timeout(
        schedulers, cluster):
    """A new leader does not ping an agent that has not re-registered: the partitioned
    agent is marked unreachable once, at the re-register timeout, not at the ping one."""
    cluster.agent_ping_timeout_s, cluster.max_agent_ping_timeouts = 0.5, 2     # 1 s
    cluster.reregister_timeout_s = 2.5
    sched, stream, agent = partition_aware_with_t1(schedulers)
    cluster.partition_agent(agent)
    second = EmulatedMaster(cluster).start()          # elected at once: a leader change
    changed = time.monotonic()
    try:
        assert eventually(lambda: ("unreachable", agent) in cluster.partition_log, 10)
        assert time.monotonic() - changed >= 2.0
        cluster.heal_agent(agent)
        assert [e for e, a in cluster.partition_log if a == agent] == [
            "partitioned", "unreachable", "healed", "returned"]
    finally:
        second.stop()
