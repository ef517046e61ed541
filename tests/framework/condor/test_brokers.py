"""The connection-broker plan: how many CCB servers, their addresses and file descriptors,
which broker an executor uses, and the configs and tasks that follow from it."""
from __future__ import annotations

import pytest

from framework.backends.marathon.render import render_group
from framework.backends.mesos.needs import TaskRecord, compute_needs
from framework.backends.mesos.tasks import TaskInfoFactory, new_task_id, parse_task_id, \
    task_broker
from framework.backends.roleparts import role_docker_parameters, role_environment
from framework.autoscaler.backoff import BackoffPolicy, LaunchBackoff
from framework.autoscaler.lifecycle import Phase
from framework.condor.brokers import least_loaded, plan_brokers
from framework.condor.config import collector_file_descriptors, render_config
from framework.errors import SpecError
from framework.model import Role
from framework.spec import parse_spec
from tests.condor_parse import condor_params

BIG = """\
pool: {name: big, trust_domain: big.example.org, signing_key_file: k}
sites:
  - name: dc
    calico: {network: calico-dc, cidr: 10.1.0.0/16}
    executors: {min: 0, max: 100}
  - name: campus
    agents: {region: campus}
    private: true
    calico: {network: calico-campus, cidr: 10.2.0.0/16}
    nat_address: 192.0.2.10
    executors: {min: 0, max: %(campus)d}
roles:
  master: {image: m:1, cpus: 1, mem: 512}
  submitter: {image: s:1, cpus: 1, mem: 1024}
  executor: {image: e:1, cpus: 1, mem: 2048}
autoscaling: {max_executors: %(cap)d}
backend: {type: sim}
"""


def spec_of(campus: int = 20000, cap: int = 20100, extra: str = ""):
    return parse_spec(BIG % {"campus": campus, "cap": cap} + extra)


def test_20000_executors_plan_twelve_brokers_and_size_their_descriptors():
    spec = spec_of()
    plan = plan_brokers(spec)
    # 20,000 campus executors × (1 master + 1 startd + 1 job) = 60,000 registrations,
    # 5,000 per broker: 12 CCB servers, the central manager the first of them
    assert plan.count == 12
    assert [b.address for b in plan.brokers] == [f"10.1.0.{i}" for i in range(2, 14)]
    assert [b.registrations for b in plan.brokers] == [5002] + [5000] * 11
    # each extra broker: max(2 × 5000, 10240); the central collector also holds the
    # update connections of all 20,100 executors (3 each)
    assert [b.file_descriptors for b in plan.extra] == [10240] * 11
    assert plan.collector_file_descriptors == 2 * 5002 + 3 * 20100 == 70304
    assert collector_file_descriptors(spec) == 70304
    master = condor_params(render_config(spec, Role.MASTER),
                           ["COLLECTOR_MAX_FILE_DESCRIPTORS", "TCP_FORWARDING_HOST"])
    assert master["COLLECTOR_MAX_FILE_DESCRIPTORS"] == 70304
    assert master["TCP_FORWARDING_HOST"] is None                # dc has no NAT
    params = {p["key"]: p["value"] for p in role_docker_parameters(spec, Role.MASTER)}
    assert params["ulimit"] == "nofile=70304:70304"


@pytest.mark.parametrize("campus,count,collector", [(80, 1, 10240), (2000, 2, 12304),
                                                     (20000, 12, 70304)])
def test_sizing_rule_of_the_docs(campus, count, collector):
    """docs/brokers.md's table: 80 / 2,000 / 20,000 private executors of 1 core."""
    plan = plan_brokers(spec_of(campus, campus + 100))
    assert plan.count == count
    assert [b.file_descriptors for b in plan.extra] == [10240] * (count - 1)
    assert plan.collector_file_descriptors == collector


def test_one_broker_keeps_the_pool_as_before():
    plan = plan_brokers(spec_of(80, 180))
    assert plan.count == 1 and plan.extra == ()
    # the central manager's figure as before brokers were planned: every executor
    assert plan.brokers[0].registrations == 180 * 3 + 2
    assert plan.collector_file_descriptors == 10240
    assert "BROKER" not in {a["id"].rsplit("/", 1)[-1].upper()
                            for a in render_group(spec_of(80, 180))["apps"]}


def test_count_forces_the_number_and_addresses_must_fit_the_pool():
    plan = plan_brokers(spec_of(10, 110, "network: {brokers: {count: 3}}\n"))
    assert plan.count == 3 and plan.forced
    with pytest.raises(SpecError) as err:
        parse_spec((BIG % {"campus": 10, "cap": 110}).replace(
            "master: {image: m:1,", "master: {address: 10.1.255.253, image: m:1,")
            + "network: {brokers: {count: 3}}\n")
    text = str(err.value)
    assert "network.brokers" in text and "10.1.255.255 is its broadcast address" in text


@pytest.mark.timeout(5)
def test_a_mistyped_huge_count_is_refused_at_once():
    """The addresses are not walked one by one (a /8 pool took half a minute)."""
    with pytest.raises(SpecError, match="10.255.255.255 is its broadcast address"):
        parse_spec((BIG % {"campus": 10, "cap": 110}).replace("10.1.0.0/16", "10.0.0.0/8")
                   .replace("10.2.0.0/16", "11.0.0.0/16")
                   + "network: {brokers: {count: 1000000000}}\n")


def test_registrations_per_broker_sets_the_count():
    plan = plan_brokers(spec_of(1000, 1100, "network: {brokers: {registrations_per_broker: "
                                            "1000}}\n"))
    assert plan.count == 3                      # 3000 registrations / 1000


def test_broker_config_is_a_collector_only_ccb_server():
    spec = spec_of()
    text = render_config(spec, Role.BROKER, broker=3)
    p = condor_params(text, ["DAEMON_LIST", "ENABLE_CCB_SERVER", "CONDOR_HOST",
                             "COLLECTOR_MAX_FILE_DESCRIPTORS", "ALLOW_ADVERTISE_STARTD",
                             "SEC_PASSWORD_DIRECTORY"])
    assert p["DAEMON_LIST"].split() == ["MASTER", "COLLECTOR"]   # no negotiator
    assert str(p["ENABLE_CCB_SERVER"]).lower() == "true"
    assert p["CONDOR_HOST"] == "10.1.0.5"
    assert p["COLLECTOR_MAX_FILE_DESCRIPTORS"] == 10240
    assert p["ALLOW_ADVERTISE_STARTD"] == "executor@big.example.org"
    env = role_environment(spec, Role.BROKER, "dc", broker=3)
    assert env["HTCMESOS_ROLE"] == "master"       # the master image's collector role
    params = {p["key"]: p["value"] for p in role_docker_parameters(spec, Role.BROKER, None, 3)}
    assert params["ip"] == "10.1.0.5" and params["ulimit"] == "nofile=10240:10240"
    with pytest.raises(Exception, match="per broker"):
        render_config(spec, Role.BROKER)
    with pytest.raises(Exception, match="not planned"):
        render_config(spec, Role.BROKER, broker=12)


def test_executor_registers_with_its_broker_behind_its_nat():
    spec = spec_of()
    p = condor_params(render_config(spec, Role.EXECUTOR, "campus", broker=4),
                      ["CCB_ADDRESS", "TCP_FORWARDING_HOST", "PRIVATE_NETWORK_NAME"])
    assert p["CCB_ADDRESS"] == "10.1.0.6:9618?sock=collector"
    assert p["TCP_FORWARDING_HOST"] == "192.0.2.10"
    central = condor_params(render_config(spec, Role.EXECUTOR, "campus", broker=0),
                            ["CCB_ADDRESS", "COLLECTOR_HOST"])
    assert central["CCB_ADDRESS"] == central["COLLECTOR_HOST"]


def test_least_loaded_spreads_executors_deterministically():
    assigned: dict[int, int] = {}
    picks = []
    for _ in range(5):
        b = least_loaded(assigned, 3)
        assigned[b] = assigned.get(b, 0) + 1
        picks.append(b)
    assert picks == [0, 1, 2, 0, 1]
    assert least_loaded({0: 4, 1: 2, 2: 3}, 3) == 1


def test_task_ids_carry_the_broker():
    tid = new_task_id("big", Role.BROKER, "dc", broker=2)
    assert parse_task_id(tid, "big") == (Role.BROKER, "dc") and task_broker(tid) == 2
    ex = new_task_id("big", Role.EXECUTOR, "campus", (2, 2048), broker=0)
    assert task_broker(ex) == 0 and parse_task_id(ex, "big") == (Role.EXECUTOR, "campus")
    assert task_broker(new_task_id("big", Role.MASTER, "dc")) is None


def test_broker_task_info_runs_the_master_image_at_its_address():
    spec = spec_of()
    info = TaskInfoFactory(spec).build(Role.BROKER, "dc", "big.broker.dc.b1.abcdef", "a1",
                                       broker=1)
    assert info["command"]["arguments"] == ["master"]
    assert info["container"]["docker"]["image"] == "m:1"
    params = {p["key"]: p["value"] for p in info["container"]["docker"]["parameters"]}
    assert params["ip"] == "10.1.0.3"
    cpus = next(r for r in info["resources"] if r["name"] == "cpus")
    assert cpus["scalar"]["value"] == 0.5        # roles.broker defaults: small


def record(task_id, role, site, broker=None, healthy=True):
    return TaskRecord(task_id, role, site, Phase.RUNNING, 0.0, "a", healthy=healthy,
                      broker=broker)


def test_needs_start_brokers_and_private_executors_wait_for_them():
    spec = spec_of(10, 110, "network: {brokers: {count: 3}}\n")
    backoff = LaunchBackoff(BackoffPolicy())
    central = [record("m", Role.MASTER, "dc"), record("s", Role.SUBMITTER, "dc")]
    needs = compute_needs(spec, central, {"campus": 2, "dc": 1}, backoff, 0.0, brokers=3)
    roles = {(n.role, n.count) for n in needs.needs}
    assert ("broker", 2) in roles and ("executor", 1) in roles      # dc's, not campus'
    assert any(r.value == "WAITING_FOR_BROKERS" for r, _ in needs.reasons)
    up = central + [record("b1", Role.BROKER, "dc", 1), record("b2", Role.BROKER, "dc", 2)]
    needs = compute_needs(spec, up, {"campus": 2}, backoff, 0.0, brokers=3)
    assert [(n.role, sorted(n.sites), n.count) for n in needs.needs] == \
        [("executor", ["campus"], 2)]


def test_marathon_renders_one_app_per_extra_broker():
    spec = spec_of(2000, 2100)
    apps = {a["id"]: a for a in render_group(spec)["apps"]}
    broker = apps["/htcondor/big/broker-1"]
    assert broker["args"] == ["master"] and broker["instances"] == 1
    assert broker["secrets"]["credentials"]["source"] == "htcondor/big/master"
    params = {p["key"]: p["value"] for p in broker["container"]["docker"]["parameters"]}
    assert params["ip"] == "10.1.0.3"
    # Marathon mode: a site's executor app uses one broker (the largest site the first)
    assert apps["/htcondor/big/executor-campus"]["dependencies"] == ["/htcondor/big/master"]


def test_framework_mode_launches_brokers_then_spreads_private_executors(tmp_path):
    """The real framework against the emulated Mesos master (simulated tasks)."""
    from collections import Counter

    from framework.backends.mesos.framework import Options
    from framework.sim.emulated_run import EmulatedRun

    (tmp_path / "k").write_text("brokers test key\n")
    spec = parse_spec((BIG % {"campus": 10, "cap": 110}).replace(
        "autoscaling: {", "autoscaling: {enabled: false, max_launches_per_tick: 2, ")
        + "network: {brokers: {count: 3}}\n", "b", tmp_path)
    run = EmulatedRun(spec, tmp_path, options=Options(reconcile_settle_s=0.3, refuse_s=0.3,
                                                      idle_refuse_s=1.0), tick_s=0.1,
                      allocation_interval_s=0.1)
    try:
        run.start({"campus": 4, "dc": 1})

        def up(role, site):
            return [r for r in run.records() if r.role is role and r.site == site
                    and r.confirmed]
        run.wait(lambda: len(up(Role.EXECUTOR, "campus")) == 4
                 and len(up(Role.EXECUTOR, "dc")) == 1, 60, "the pool")
        brokers = up(Role.BROKER, "dc")
        assert sorted(r.broker for r in brokers) == [1, 2]
        campus = up(Role.EXECUTOR, "campus")
        assert Counter(r.broker for r in campus) == {0: 2, 1: 1, 2: 1}
        assert [r.broker for r in up(Role.EXECUTOR, "dc")] == [None]
        # private executors only once every broker was healthy
        assert min(r.launched_at for r in campus) >= max(r.healthy_at for r in brokers)
    finally:
        run.close()


def registered_framework(tmp_path, mesos_extra: str = ""):
    """Framework mode for a two-broker pool of test_spec's GOOD spec, registered with a
    FakeDriver and settled: (framework, driver, clock)."""
    from framework.backends.mesos.framework import MesosFramework, Options
    from framework.clock import ManualClock
    from framework.state import FileStore
    from tests.framework.backends.mesos.test_framework import FakeDriver, settle
    from tests.framework.test_spec import GOOD

    spec = parse_spec(GOOD.replace("type: sim", "type: mesos\n  mesos: {master: 'http://m:5050'"
                                   f", role: htcondor{mesos_extra}}}")
                      + "network: {brokers: {count: 2}}\n")
    clock = ManualClock()
    fw = MesosFramework(spec, FileStore(tmp_path / "s.json"), clock,
                        Options(reconcile_settle_s=1))
    driver = FakeDriver()
    fw.registered(driver, {"value": "fw-1"}, {"hostname": "m"})
    settle(fw, clock)
    return fw, driver, clock


def test_a_broker_unreachable_beyond_the_limit_is_replaced_under_its_number(tmp_path):
    """Like the master: kept (number and address) while it may run, replaced once away
    longer than replace_unreachable.master; a replacement failing on the address the old
    one still holds does not count towards the site's black hole."""
    from tests.framework.backends.mesos.test_framework import launched, run_healthy, update
    from tests.framework.backends.mesos.test_offers import raw_offer

    fw, driver, clock = registered_framework(tmp_path, ", replace_unreachable: {master: 60}")
    fw.resourceOffers(driver, [raw_offer(1)])
    run_healthy(fw, driver, launched(driver)[0], "10.1.0.2")
    fw.resourceOffers(driver, [raw_offer(2)])
    old = next(i for i in launched(driver) if ".broker." in i["task_id"]["value"])
    run_healthy(fw, driver, old, "10.1.0.3")

    def brokers_launched():
        return [i["task_id"]["value"] for i in launched(driver)
                if ".broker." in i["task_id"]["value"]]
    update(fw, driver, old["task_id"]["value"], "TASK_UNREACHABLE",
           reason="REASON_AGENT_REMOVED", unreachable_time={"nanoseconds": int(clock.wall() * 1e9)})
    clock.advance(30)
    fw.tick()
    fw.resourceOffers(driver, [raw_offer(3)])
    assert len(brokers_launched()) == 1                 # kept: it may still run
    clock.advance(31)
    fw.tick()
    fw.resourceOffers(driver, [raw_offer(4)])
    assert len(brokers_launched()) == 2
    new = brokers_launched()[1]
    assert task_broker(new) == 1
    # it fails on the address the old one still holds: its key backs off, the site does not
    update(fw, driver, new, "TASK_FAILED", message="Address already in use")
    assert fw.backoff.early_deaths("alpha", clock.now()) == 0


def test_brokers_are_counted_by_number():
    """Two tasks of broker 1 (one back from a partition after its replacement) do not
    stand in for broker 2; nor does a broker the plan no longer has (a smaller count)."""
    spec = spec_of(10, 110, "network: {brokers: {count: 3}}\n")
    backoff = LaunchBackoff(BackoffPolicy())
    central = [record("m", Role.MASTER, "dc"), record("s", Role.SUBMITTER, "dc")]
    twice = central + [record("b1", Role.BROKER, "dc", 1), record("b1'", Role.BROKER, "dc", 1)]
    needs = compute_needs(spec, twice, {"campus": 1}, backoff, 0.0, brokers=3)
    assert [(n.role, n.count) for n in needs.needs] == [("broker", 1)]
    assert any(r.value == "WAITING_FOR_BROKERS" for r, _ in needs.reasons)
    stale = central + [record("b1", Role.BROKER, "dc", 1), record("b5", Role.BROKER, "dc", 5)]
    needs = compute_needs(spec, stale, {"campus": 1}, backoff, 0.0, brokers=3)
    assert [(n.role, n.count) for n in needs.needs] == [("broker", 1)]


def test_duplicate_and_leftover_brokers_are_killed_unless_executors_use_them(tmp_path):
    """``network.brokers.count`` lowered from 4 to 2 while the framework was down, and a
    restart adopted two tasks of broker 1: the younger broker 1 and broker 2 (no executor
    uses it) are surplus; broker 3 is no longer planned either, but a private executor is
    registered with it: it stays until that executor ends, then it is killed too."""
    from tests.framework.backends.mesos.test_framework import update

    fw, driver, clock = registered_framework(tmp_path)
    tasks = ["p1.master.alpha.000001", "p1.submitter.alpha.000001",
             "p1.broker.alpha.b1.00000a", "p1.broker.alpha.b1.00000b",
             "p1.broker.alpha.b2.00000c", "p1.broker.alpha.b3.00000d",
             "p1.executor.beta.b3.00000e", "p1.executor.beta.b1.00000f"]
    for tid in tasks:                  # adopted in this order, 10 s apart: oldest first
        update(fw, driver, tid, "TASK_RUNNING", healthy=True)
        clock.advance(10)
    assert [(t, fw.records[t].broker) for t in tasks[2:6]] == \
        [(tasks[2], 1), (tasks[3], 1), (tasks[4], 2), (tasks[5], 3)]

    def killed():
        return [c[1]["value"] for c in driver.named("killTask")]
    fw.tick()
    assert killed() == [tasks[3], tasks[4]]     # the younger broker 1, broker 2
    fw.tick()
    assert killed() == [tasks[3], tasks[4]]     # broker 3 serves an executor: kept
    update(fw, driver, tasks[6], "TASK_FINISHED")
    fw.tick()
    assert killed() == [tasks[3], tasks[4], tasks[5]]
    # of two of one number the healthy one is kept, even when younger
    update(fw, driver, tasks[2], "TASK_RUNNING", healthy=False)
    update(fw, driver, "p1.broker.alpha.b1.000010", "TASK_RUNNING", healthy=True)
    fw.tick()
    assert killed() == [tasks[3], tasks[4], tasks[5], tasks[2]]
