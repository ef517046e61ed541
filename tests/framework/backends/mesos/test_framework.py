"""The framework's decisions with a hand-written fake driver (the emulator tests drive the
real driver; these pin the logic: order, reconciliation gate, suppress/revive, back-off)."""
from __future__ import annotations

from framework.autoscaler.backoff import BackoffPolicy
from framework.backends.mesos.framework import MesosFramework, Options, framework_info
from framework.backends.mesos.needs import Reason
from framework.clock import ManualClock
from framework.spec import parse_spec
from framework.state import FileStore, FrameworkState
from tests.framework.backends.mesos.test_offers import raw_offer
from tests.framework.test_spec import GOOD

SPEC = parse_spec(GOOD.replace("type: sim", "type: mesos\n  mesos: {master: 'http://m:5050', "
                                            "role: htcondor}"))


class FakeDriver:
    def __init__(self):
        self.calls: list[tuple] = []
        self.framework_id = "fw-1"

    def __getattr__(self, name):
        if name.startswith(("launch", "decline", "kill", "revive", "suppress", "reconcile")):
            return lambda *a: self.calls.append((name, *a))
        raise AttributeError(name)

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


def make(tmp_path, **opts):
    clock = ManualClock()
    fw = MesosFramework(SPEC, FileStore(tmp_path / "state.json"), clock,
                        Options(reconcile_settle_s=1, **opts))
    driver = FakeDriver()
    fw.registered(driver, {"value": "fw-1"}, {"hostname": "m"})
    return fw, driver, clock


def settle(fw, clock):
    clock.advance(1.5)
    return fw.tick()


def update(fw, driver, task_id, state, **extra):
    status = {"task_id": {"value": task_id}, "state": state, "agent_id": {"value": "a0"}}
    status.update(extra)
    fw.statusUpdate(driver, status)


def launched(driver):
    return [info for c in driver.named("launchTasks") for info in c[2]]


def run_healthy(fw, driver, info, ip):
    tid = info["task_id"]["value"]
    update(fw, driver, tid, "TASK_RUNNING", container_status={
        "network_infos": [{"ip_addresses": [{"ip_address": ip}]}]})
    update(fw, driver, tid, "TASK_RUNNING", healthy=True)


def test_framework_info_capabilities():
    info = framework_info(SPEC, "fw-9", "host")
    caps = {c["type"] for c in info["capabilities"]}
    assert {"MULTI_ROLE", "REGION_AWARE"} <= caps and info["id"] == {"value": "fw-9"}
    assert info["roles"] == ["htcondor"] and info["failover_timeout"] == 7 * 24 * 3600


def test_subscribe_persists_id_and_reconciles(tmp_path):
    fw, driver, clock = make(tmp_path)
    assert FileStore(tmp_path / "state.json").load().framework_id == "fw-1"
    assert driver.named("reconcileTasks") == [("reconcileTasks", [])]  # implicit only
    # offers before reconciliation settled are declined, nothing launched
    fw.resourceOffers(driver, [raw_offer(1)])
    assert launched(driver) == [] and driver.named("declineOffer")
    assert fw.status().reconciling


def test_ordered_start_master_submitter_executors(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(i) for i in range(3)])
    infos = launched(driver)
    assert [i["name"] for i in infos] == ["p1-master-alpha"]  # only the master first
    # at its fixed address: the first host after the gateway in alpha's pool
    assert {"key": "ip", "value": SPEC.master_address} in \
        infos[0]["container"]["docker"]["parameters"]
    status = fw.tick()
    assert (Reason.WAITING_FOR_MASTER.value, "master not yet running and healthy") in \
        status.reasons
    run_healthy(fw, driver, infos[0], "10.1.0.7")
    fw.resourceOffers(driver, [raw_offer(i) for i in range(3, 6)])
    infos = launched(driver)
    assert [i["name"] for i in infos][1:] == ["p1-submitter-alpha"]
    run_healthy(fw, driver, infos[1], "10.1.0.8")
    fw.resourceOffers(driver, [raw_offer(i) for i in range(6, 9)])
    execs = launched(driver)[2:]
    assert [i["name"] for i in execs] == ["p1-executor-alpha"]  # alpha min 1; beta min 0
    env = {v["name"]: v["value"] for v in execs[0]["command"]["environment"]["variables"]}
    assert env["HTCMESOS_MASTER_ADDRESS"] == SPEC.master_address == "10.1.0.2"
    alloc = {r.get("allocation_info", {}).get("role") for r in execs[0]["resources"]}
    assert alloc == {"htcondor"}
    saved = FileStore(tmp_path / "state.json").load()
    assert set(saved.tasks) == {i["task_id"]["value"] for i in launched(driver)}


def test_suppress_when_nothing_wanted_and_revive_on_demand(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    m = launched(driver)[0]
    run_healthy(fw, driver, m, "10.1.0.7")
    fw.resourceOffers(driver, [raw_offer(2)])
    run_healthy(fw, driver, launched(driver)[1], "10.1.0.8")
    fw.resourceOffers(driver, [raw_offer(3)])
    run_healthy(fw, driver, launched(driver)[2], "10.1.0.9")
    fw.resourceOffers(driver, [raw_offer(4)])  # nothing wanted now
    assert len(driver.named("suppressOffers")) == 1
    assert driver.named("declineOffer")[-1][2] == {"refuse_seconds": 60.0}
    fw.tick()
    assert driver.named("reviveOffers") == []
    fw.set_desired_executors("beta", 2)
    fw.tick()
    assert driver.named("reviveOffers") == [("reviveOffers", ["htcondor"])]


def test_failed_tasks_back_off_and_black_hole(tmp_path):
    fw, driver, clock = make(tmp_path, backoff=BackoffPolicy(base_s=5, blackhole_failures=2,
                                                             early_s=60, hold_s=100))
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    master = launched(driver)[0]["task_id"]["value"]
    update(fw, driver, master, "TASK_FAILED", message="boom")
    assert fw.failures == 1
    fw.resourceOffers(driver, [raw_offer(2)])
    assert len(launched(driver)) == 1               # backing off
    assert fw.tick().reasons[0][0] == "BACKOFF"
    clock.advance(5)
    fw.resourceOffers(driver, [raw_offer(3)])
    second = launched(driver)[1]["task_id"]["value"]
    update(fw, driver, second, "TASK_LOST")
    codes = [c for c, _ in fw.tick().reasons]
    assert "BLACK_HOLE" in codes
    clock.advance(50)
    fw.resourceOffers(driver, [raw_offer(4)])
    assert len(launched(driver)) == 2                # the whole site waits out its hold


def test_restart_adopts_saved_tasks_and_reconciles_them(tmp_path):
    FileStore(tmp_path / "state.json").save(FrameworkState("fw-1", {
        "p1.master.alpha.aaaaaa": "a1", "p1.master.alpha.bbbbbb": "a2"}))
    fw, driver, clock = make(tmp_path)
    explicit = driver.named("reconcileTasks")[0][1]
    assert sorted(t["task_id"]["value"] for t in explicit) == ["p1.master.alpha.aaaaaa",
                                                               "p1.master.alpha.bbbbbb"]
    clock.advance(5)
    assert fw.tick().reconciling  # still waiting for both answers
    for tid, healthy in (("p1.master.alpha.aaaaaa", True), ("p1.master.alpha.bbbbbb", None)):
        status = {"task_id": {"value": tid}, "state": "TASK_RUNNING",
                  "reason": "REASON_RECONCILIATION"}
        if healthy:
            status["healthy"] = True
        fw.statusUpdate(driver, status)
    status = fw.tick()
    assert not status.reconciling
    assert driver.named("killTask") == [("killTask", {"value": "p1.master.alpha.bbbbbb"})]


def test_zombie_is_killed_and_foreign_tasks_ignored(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    update(fw, driver, tid, "TASK_LOST")
    update(fw, driver, tid, "TASK_RUNNING")
    assert driver.named("killTask") == [("killTask", {"value": tid})]
    update(fw, driver, "someone-else", "TASK_RUNNING")
    assert fw.status().counts == {}


def test_kill_by_task_id(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    assert fw.kill(tid) and not fw.kill("nope")
    update(fw, driver, tid, "TASK_KILLED")
    assert fw.failures == 0


def test_agent_loss_is_replaced_without_backoff(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    update(fw, driver, tid, "TASK_LOST", reason="REASON_AGENT_REMOVED")
    fw.resourceOffers(driver, [raw_offer(2)])
    assert len(launched(driver)) == 2 and fw.failures == 1  # relaunched at once
    update(fw, driver, launched(driver)[1]["task_id"]["value"], "TASK_FAILED")
    fw.resourceOffers(driver, [raw_offer(3)])
    assert len(launched(driver)) == 2  # a task failure does back off


class BrokenStore(FileStore):
    def __init__(self, path):
        super().__init__(path)
        self.broken = False

    def save(self, state):
        if self.broken:
            raise OSError("disk full")
        super().save(state)


def test_unsaved_launches_are_not_made_and_offers_go_back(tmp_path):
    clock = ManualClock()
    store = BrokenStore(tmp_path / "state.json")
    fw = MesosFramework(SPEC, store, clock, Options(reconcile_settle_s=1))
    driver = FakeDriver()
    fw.registered(driver, {"value": "fw-1"}, {})
    settle(fw, clock)
    store.broken = True
    fw.resourceOffers(driver, [raw_offer(1)])
    assert launched(driver) == [] and fw.records == {} and fw.launches == 0
    assert driver.named("declineOffer")[-1][1] == [{"value": "o1"}]
    fw.tick()  # a failing store is logged, not raised
    store.broken = False
    fw.resourceOffers(driver, [raw_offer(2)])
    assert len(launched(driver)) == 1


def test_launch_without_answer_is_reconciled_and_kill_is_repeated(tmp_path):
    fw, driver, clock = make(tmp_path, launch_timeout_s=10, kill_retry_s=10)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    clock.advance(9)
    fw.tick()
    assert driver.named("reconcileTasks")[-1] == ("reconcileTasks", [])  # nothing yet
    clock.advance(1)
    fw.tick()
    # with the agent it was launched on: a new leader answers only then (master.cpp)
    assert driver.named("reconcileTasks")[-1] == ("reconcileTasks", [
        {"task_id": {"value": tid}, "agent_id": {"value": "a1"}}])
    # the master does not know it: TASK_LOST from reconciliation, replaced without back-off
    update(fw, driver, tid, "TASK_LOST", reason="REASON_RECONCILIATION")
    fw.resourceOffers(driver, [raw_offer(2)])
    second = launched(driver)[1]["task_id"]["value"]
    update(fw, driver, second, "TASK_RUNNING")
    fw.kill(second)
    clock.advance(10)
    fw.tick()
    assert driver.named("killTask") == [("killTask", {"value": second})] * 2


def test_restored_tasks_lost_on_reconciliation_do_not_back_off(tmp_path):
    FileStore(tmp_path / "state.json").save(FrameworkState("fw-1", {
        f"p1.executor.alpha.{i:06x}": None for i in range(6)}))
    fw, driver, clock = make(tmp_path)
    for i in range(6):
        fw.statusUpdate(driver, {"task_id": {"value": f"p1.executor.alpha.{i:06x}"},
                                 "state": "TASK_LOST", "reason": "REASON_RECONCILIATION"})
    status = settle(fw, clock)
    assert not any(code in ("BACKOFF", "BLACK_HOLE") for code, _ in status.reasons)
    fw.resourceOffers(driver, [raw_offer(1)])
    assert [i["name"] for i in launched(driver)] == ["p1-master-alpha"]


def test_surplus_keeps_the_established_master(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    for i, ip in ((1, "10.1.0.7"), (2, "10.1.0.8")):
        fw.statusUpdate(driver, {"task_id": {"value": f"p1.master.alpha.00000{i}"},
                                 "state": "TASK_RUNNING", "healthy": True,
                                 "container_status": {"network_infos": [{"ip_addresses": [
                                     {"ip_address": ip}]}]}})
        clock.advance(100)
    fw.tick()
    assert driver.named("killTask") == [("killTask", {"value": "p1.master.alpha.000002"})]


def test_resubscribe_forgets_suppression_and_removed_framework_starts_anew(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw._suppressed = True
    fw.reregistered(driver, {"hostname": "m"})
    assert fw._suppressed is False
    driver._framework = {"id": {"value": "fw-1"}, "name": "x"}
    fw.error(driver, "Framework has been removed")
    assert driver._framework == {"name": "x"} and fw.saved.framework_id is None
    assert FileStore(tmp_path / "state.json").load().framework_id is None


def test_repeated_accept_answer_does_not_end_a_started_task(tmp_path):
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    update(fw, driver, tid, "TASK_RUNNING")
    update(fw, driver, tid, "TASK_LOST", reason="REASON_INVALID_OFFERS")
    assert fw.records[tid].phase.value == "running" and fw.failures == 0


def test_a_replaced_master_back_from_a_partition_is_the_surplus(tmp_path):
    """The one that ran on while the other was unreachable survives (it holds the address
    the pool used meanwhile), though the returning one is older and healthy too."""
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    old, new = "p1.master.alpha.000001", "p1.master.alpha.000002"
    for tid in (old, new):
        fw.statusUpdate(driver, {"task_id": {"value": tid}, "state": "TASK_RUNNING",
                                 "healthy": True})
        if tid == old:
            fw.statusUpdate(driver, {"task_id": {"value": old}, "state": "TASK_UNREACHABLE",
                                     "reason": "REASON_AGENT_REMOVED"})
        clock.advance(100)
    fw.tick()
    assert driver.named("killTask") == []             # one active master: no surplus
    fw.statusUpdate(driver, {"task_id": {"value": old}, "state": "TASK_RUNNING",
                             "healthy": True, "reason": "REASON_AGENT_REREGISTERED"})
    assert fw.records[old].returned and fw.records[old].confirmed
    fw.tick()
    assert driver.named("killTask") == [("killTask", {"value": old})]


def test_an_unreachable_master_keeps_its_place_until_it_is_gone(tmp_path):
    """Not a failure, not replaced while it may run (it may hold the fixed address); asked
    for now and then; once the operator marks its agent gone it ends, counted once, and
    is replaced at once."""
    fw, driver, clock = make(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tid = launched(driver)[0]["task_id"]["value"]
    assert ".master." in tid
    now = clock.wall()
    update(fw, driver, tid, "TASK_UNREACHABLE", reason="REASON_AGENT_REMOVED",
           unreachable_time={"nanoseconds": int((now - 30) * 1e9)})
    rec = fw.records[tid]
    assert fw.failures == 0 and rec.healthy is None
    assert abs(clock.now() - rec.unreachable_at - 30) < 1      # Mesos' time, not ours
    fw.resourceOffers(driver, [raw_offer(2)])
    assert len(launched(driver)) == 1                     # kept: no second master
    reasons = [t for c, t in fw.status().reasons if c == "UNREACHABLE"]
    assert reasons and "never replaced while it may run" in reasons[0]
    clock.advance(31)
    fw.tick()
    assert ("reconcileTasks", [{"task_id": {"value": tid}, "agent_id": {"value": "a0"}}]) \
        in driver.named("reconcileTasks")                 # asked for now and then
    update(fw, driver, tid, "TASK_GONE_BY_OPERATOR", reason="REASON_AGENT_REMOVED_BY_OPERATOR")
    assert fw.failures == 1 and rec.phase.value == "ended"
    fw.resourceOffers(driver, [raw_offer(3)])
    assert len(launched(driver)) == 2                     # replaced, without back-off
