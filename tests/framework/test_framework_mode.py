"""Framework mode end to end: the real framework (pymesos driver wrapped) against the strict
Mesos emulator over HTTP on loopback; ZooKeeper tests use the real server."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from framework.autoscaler.backoff import BackoffPolicy
from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.framework import MesosFramework, Options
from framework.controller import run_framework
from framework.model import Role
from framework.sim.from_spec import site_layouts, with_mesos_backend
from framework.sim.mesos.cluster import SimCluster
from framework.sim.mesos.master import EmulatedMaster
from framework.spec import ClusterSpec, parse_spec
from tests.conftest import ROOT
from tests.waiting import wait_for

SPEC = """
pool: {name: itest, trust_domain: itest.example, signing_key_file: key}
sites:
  - {name: dc, calico: {network: calico-dc, cidr: 10.1.0.0/16}, executors: {min: 2, max: 10}}
  - name: campus
    agents: {region: campus-east}
    private: true
    calico: {network: calico-campus, cidr: 10.2.0.0/16}
    executors: {min: 2, max: 10}
roles:
  master: {image: m, cpus: 1, mem: 1024}
  submitter: {image: s, cpus: 1, mem: 1024}
  executor: {image: e, cpus: 2, mem: 2048, disk: 1024}
autoscaling: {enabled: false, max_launches_per_tick: 2}
backend: {type: sim, sim: {agents_per_site: 3}}
"""
FAST = Options(reconcile_settle_s=0.3, refuse_s=0.3, idle_refuse_s=1.0,
               backoff=BackoffPolicy(base_s=0.2, max_s=2))


def base_spec(tmp_path: Path) -> ClusterSpec:
    (tmp_path / "key").write_text("itest pool signing key\n")
    return parse_spec(SPEC, "itest", tmp_path)


@pytest.fixture
def cluster(tmp_path):
    c = SimCluster.build(site_layouts(base_spec(tmp_path)), seed=11, allocation_interval_s=0.1)
    yield c
    c.close()


class Running:
    """The framework running in a thread of the test process."""

    def __init__(self, spec: ClusterSpec, masters: str | None = None, options: Options = FAST):
        self.fw: MesosFramework | None = None
        self.stop = threading.Event()
        self.error: BaseException | None = None

        def main() -> None:
            try:
                run_framework(spec, self.stop, masters=masters, options=options, tick_s=0.1,
                              on_start=lambda fw: setattr(self, "fw", fw))
            except BaseException as exc:  # surfaced by the test
                self.error = exc
        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        wait_for(lambda: self.fw is not None, 10, "framework start")

    def active(self, role: Role | None = None, site: str | None = None, running: bool = False):
        return [r for r in list(self.fw.records.values())
                if r.phase.active and (role is None or r.role is role)
                and (site is None or r.site == site)
                and (not running or (r.phase is Phase.RUNNING and r.healthy))]

    def executor_away_from_central(self, site: str):
        """An active executor at ``site`` whose agent runs no master or submitter."""
        central = {r.agent_id for r in self.active() if r.role is not Role.EXECUTOR}
        return next(r for r in self.active(Role.EXECUTOR, site) if r.agent_id not in central)

    def pool_up(self) -> bool:
        return (len(self.active(Role.MASTER, running=True)) == 1
                and len(self.active(Role.SUBMITTER, running=True)) == 1
                and len(self.active(Role.EXECUTOR, "dc", running=True)) == 2
                and len(self.active(Role.EXECUTOR, "campus", running=True)) == 2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert self.error is None, self.error


@pytest.fixture
def running(tmp_path, cluster):
    made: list[Running] = []
    masters: list[EmulatedMaster] = []

    def start(spec_masters: str | None = None, master: EmulatedMaster | None = None,
              spec_edit=None, **kw) -> Running:
        if master is None and spec_masters is None:
            master = EmulatedMaster(cluster, heartbeat_s=0.3).start()
            masters.append(master)
        url = spec_masters or master.url
        spec = with_mesos_backend(base_spec(tmp_path), url, tmp_path / "state.json")
        spec = spec_edit(spec) if spec_edit else spec
        run = Running(spec, **kw)
        made.append(run)
        return run
    start.masters = masters
    yield start
    for run in made:
        run.close()
    for m in masters:
        m.stop()


def test_two_sites_come_up_in_order(running):
    run = running()
    wait_for(run.pool_up, 30, "master, submitter and 2+2 executors")
    recs = list(run.fw.records.values())
    master = next(r for r in recs if r.role is Role.MASTER)
    submitter = next(r for r in recs if r.role is Role.SUBMITTER)
    executors = [r for r in recs if r.role is Role.EXECUTOR]
    assert submitter.launched_at >= master.healthy_at
    assert min(r.launched_at for r in executors) >= submitter.healthy_at
    assert Counter(r.site for r in executors) == {"dc": 2, "campus": 2}
    assert master.ip.startswith("10.1.") and master.site == "dc"  # a public site
    assert run.fw.launches == 6 and run.fw.failures == 0


def test_agent_loss_is_replaced_at_the_same_site(running, cluster):
    run = running()
    wait_for(run.pool_up, 30, "pool up")
    victim = run.active(Role.EXECUTOR, "campus")[0]
    on_agent = [r for r in run.active() if r.agent_id == victim.agent_id]
    cluster.lose_agent(victim.agent_id)
    # PARTITION_AWARE: TASK_UNREACHABLE, not lost; it stops counting and is replaced
    wait_for(lambda: victim.phase is Phase.UNREACHABLE, 10, "the lost task unreachable")
    wait_for(run.pool_up, 30, "the executor replaced")
    fresh = [r for r in run.active(Role.EXECUTOR, "campus") if r.task_id != victim.task_id]
    assert len(fresh) == 2 and all(r.agent_id != victim.agent_id for r in fresh)
    assert victim.state == "TASK_UNREACHABLE" and run.fw.failures == 0
    assert ("executor", "campus", "unreachable") in run.fw.status().counts
    # the operator marks the dead host gone: the task ends, counted once as a failure
    cluster.mark_agent_gone(victim.agent_id)
    wait_for(lambda: victim.phase is Phase.ENDED, 10, "the gone task ended")
    assert victim.state == "TASK_GONE_BY_OPERATOR" and run.fw.failures == len(on_agent)
    assert ("executor", "campus", "unreachable") not in run.fw.status().counts
    assert run.fw.launches == 6 + len(on_agent)


def test_black_hole_site_gets_bounded_launches(running, cluster, tmp_path):
    cluster.black_hole("campus", after_s=0.1, probability=1.0)
    policy = BackoffPolicy(base_s=0.1, max_s=0.5, blackhole_failures=3, early_s=30,
                           hold_s=600)
    run = running(options=Options(reconcile_settle_s=0.3, refuse_s=0.3, backoff=policy))
    wait_for(lambda: any(c == "BLACK_HOLE" for c, _ in run.fw.status().reasons), 30,
             "the black hole detected")
    campus = [r for r in run.fw.records.values() if r.site == "campus"]
    bound = policy.blackhole_failures + base_spec(tmp_path).autoscaling.max_launches_per_tick
    assert len(campus) <= bound
    # the rest of the pool is unaffected and nothing more goes to the black hole
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 2, 20, "dc up")
    launches = run.fw.launches
    wait_for(lambda: run.fw.tick() and run.fw.launches == launches and
             len([r for r in run.fw.records.values() if r.site == "campus"]) <= bound, 2)
    reason = next(t for c, t in run.fw.status().reasons if c == "BLACK_HOLE")
    assert "campus" in reason and "no launches for 600 s" in reason


def test_malformed_events_are_logged_and_survived(running, cluster):
    run = running()
    wait_for(run.pool_up, 30, "pool up")
    fid = run.fw.saved.framework_id
    for event in ({"type": "SOMETHING_NEW", "something_new": {}},
                  {"type": "UPDATE", "update": {}},
                  {"type": "UPDATE", "update": {"status": {"task_id": {"value": "x"},
                                                           "state": "TASK_DREAMING"}}},
                  {"type": "OFFERS", "offers": {"offers": [{"garbage": True}]}},
                  {"type": "RESCIND"}, {"no": "type"}):
        assert cluster.send_raw(fid, event)
    # the two that break our handlers are counted; pymesos logs the unknown/empty ones
    wait_for(lambda: run.fw.driver.bad_events >= 2, 10, "bad events counted")
    assert run.fw.driver.connected and run.pool_up()
    assert cluster.send_raw(fid, b"{this is not json")   # breaks the stream: resubscribe
    wait_for(lambda: run.fw.driver.last_error is not None, 10, "the broken record noticed")
    wait_for(lambda: run.fw.driver.connected and not run.fw.status().reconciling, 20,
             "resubscribed")
    # still working: a lost agent's executor is replaced
    victim = run.executor_away_from_central("campus")
    cluster.lose_agent(victim.agent_id)
    wait_for(lambda: victim.phase is Phase.UNREACHABLE and run.pool_up(), 30, "replacement")


def test_silent_master_is_noticed_and_resubscribed(running):
    run = running()
    wait_for(run.pool_up, 30, "pool up")
    master = running.masters[0]
    master.stall()
    wait_for(lambda: run.fw.driver.resubscribes >= 1, 10, "heartbeat watchdog fired")
    master.resume()
    wait_for(lambda: run.fw.driver.connected and run.pool_up(), 20, "back to normal")
    assert run.fw.launches == 6


def test_follower_redirect_is_followed(running, cluster):
    leader = EmulatedMaster(cluster, heartbeat_s=0.3).start()
    follower = EmulatedMaster(cluster, heartbeat_s=0.3, redirect_to=leader.address).start()
    running.masters.extend([leader, follower])
    run = running(spec_masters=follower.url)
    wait_for(run.pool_up, 30, "pool up through the leader")
    assert run.fw.driver.master == leader.address


@pytest.mark.zookeeper
def test_leader_failover_through_zookeeper(running, cluster, zookeeper):
    run, first, second = _failover(running, cluster, zookeeper, "/mesos-itest", 0.3)
    assert run.fw.driver.master == first.address
    tasks_before = {r.task_id for r in run.active()}
    first.stop()
    wait_for(lambda: second.is_leader, 15, "second master elected")
    wait_for(lambda: run.fw.driver.master == second.address and run.fw.driver.connected
             and not run.fw.status().reconciling, 20, "resubscribed to the new leader")
    assert {r.task_id for r in run.active()} == tasks_before
    victim = run.executor_away_from_central("campus")
    cluster.lose_agent(victim.agent_id)
    wait_for(lambda: victim.phase is Phase.UNREACHABLE and run.pool_up(), 30,
             "the new leader serves the framework")


def _spawn(spec_path: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "framework.cli", "run", str(spec_path),
                             "--tick", "0.2"], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_sigkill_and_restart_keeps_exactly_the_desired_tasks(tmp_path, cluster):
    master = EmulatedMaster(cluster, heartbeat_s=0.3).start()
    state = tmp_path / "state.json"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC.replace("backend: {type: sim, sim: {agents_per_site: 3}}",
                                      f"backend: {{type: mesos, mesos: {{master: '{master.url}',"
                                      f" state: '{state}', failover_timeout: 600}}}}"))
    log = tmp_path / "framework.log"
    proc = _spawn(spec_path, log)
    try:
        def live() -> dict[str, str]:
            if not state.exists():
                return {}
            fid = json.loads(state.read_text())["framework_id"]
            return {t: s for t, s in cluster.task_states(fid).items() if s == "TASK_RUNNING"}

        def complete() -> bool:
            roles = Counter(".".join(t.split(".")[1:3]) for t in live())
            return roles == {"master.dc": 1, "submitter.dc": 1, "executor.dc": 2,
                             "executor.campus": 2}
        wait_for(complete, 40, "the pool up under the first process")
        before = set(live())
        fid = json.loads(state.read_text())["framework_id"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        lines_before = log.read_text().count("\n")
        proc = _spawn(spec_path, log)

        def steady() -> bool:
            new = log.read_text().splitlines()[lines_before:]
            return any(line.startswith("[connected]") and "|" not in line for line in new)
        wait_for(steady, 40, "the restarted framework reconciled with nothing left to do")
        assert json.loads(state.read_text())["framework_id"] == fid
        assert set(live()) == before and complete()
        assert set(cluster.task_states(fid)) == before  # nothing launched, nothing lost
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        master.stop()


def test_direct_master_list_skips_a_dead_master(running, cluster):
    import socket
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there any more
    live = EmulatedMaster(cluster, heartbeat_s=0.3).start()
    running.masters.append(live)
    run = running(spec_masters=f"http://127.0.0.1:{dead_port},{live.url}")
    wait_for(run.pool_up, 60, "pool up through the second master")
    assert run.fw.driver.master == live.address


def test_unavailable_master_is_retried_with_backoff(running, cluster):
    master = EmulatedMaster(cluster, heartbeat_s=0.3).start()
    running.masters.append(master)
    master.set_recovering(True)
    run = running(spec_masters=master.url)
    wait_for(lambda: run.fw.driver.last_error and "503" in run.fw.driver.last_error, 10,
             "the 503 seen")
    assert not run.fw.driver.connected
    master.set_recovering(False)
    wait_for(run.pool_up, 30, "pool up once the master recovered")


def test_basic_auth_with_principal_and_secret_file(tmp_path, cluster):
    master = EmulatedMaster(cluster, heartbeat_s=0.3,
                            credentials={"htcmesos": "s3cret-for-auth"}).start()
    secret = tmp_path / "mesos-secret"
    secret.write_text("s3cret-for-auth\n")
    spec = with_mesos_backend(base_spec(tmp_path), master.url, tmp_path / "state.json")
    mesos = dataclasses.replace(spec.backend.mesos, principal="htcmesos", secret_file=secret)
    spec = dataclasses.replace(spec, backend=dataclasses.replace(spec.backend, mesos=mesos))
    run = Running(spec)
    try:
        wait_for(run.pool_up, 30, "pool up with authentication")
    finally:
        run.close()
        master.stop()
    wrong = EmulatedMaster(cluster, heartbeat_s=0.3, credentials={"htcmesos": "other"}).start()
    secret.write_text("not-the-secret")
    mesos = dataclasses.replace(mesos, master=wrong.url, state=str(tmp_path / "state2.json"))
    run = Running(dataclasses.replace(spec, backend=dataclasses.replace(spec.backend,
                                                                        mesos=mesos)))
    try:
        wait_for(lambda: run.fw.driver.last_error and "401" in run.fw.driver.last_error, 10,
                 "the 401 seen")
        assert not run.fw.driver.connected
        assert "not-the-secret" not in run.fw.driver.last_error
    finally:
        run.close()
        wrong.stop()


@pytest.mark.zookeeper
def test_framework_state_in_zookeeper(zookeeper):
    from framework.state import FrameworkState, ZooKeeperStore
    url = zookeeper.url("/htcmesos/itest-state")
    store = ZooKeeperStore(url)
    try:
        assert store.load() == FrameworkState()
        store.save(FrameworkState("fw-7", {"itest.master.dc.abcdef": "a1"}))
        store.save(FrameworkState("fw-7", {"itest.executor.dc.123456": None}))
    finally:
        store.close()
    again = ZooKeeperStore(url)
    try:
        assert again.load() == FrameworkState("fw-7", {"itest.executor.dc.123456": None})
    finally:
        again.close()


def _free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_master_that_comes_up_late_and_bad_addresses(running, cluster):
    from framework.mesos.driver import NEVER_S
    port = _free_port()
    run = running(spec_masters=f"http://127.0.0.1:{port}")
    # pymesos' connect deadline is not our call timeout: the framework never gives up
    assert run.fw.driver._timeout == NEVER_S
    wait_for(lambda: run.fw.driver.last_error is not None or run.fw.driver._connect_failures,
             10, "failed connects")
    late = EmulatedMaster(cluster, port=port, heartbeat_s=0.3).start()
    running.masters.append(late)
    wait_for(run.pool_up, 60, "pool up once the master is there")
    assert run.fw.driver._io_thread.is_alive()


@pytest.mark.parametrize("masters", ["http://nosuch-host.invalid:5050", "http://[::1]:5050"])
def test_unusable_master_address_is_retried_not_fatal(running, masters):
    run = running(spec_masters=masters)
    wait_for(lambda: run.fw.driver.last_error and "cannot connect" in run.fw.driver.last_error
             or (run.fw.driver._connect_failures >= 1), 15, "the failed connect reported")
    assert run.fw.driver._io_thread.is_alive() and not run.fw.driver.connected


def test_removed_framework_subscribes_anew(tmp_path, cluster):
    master = EmulatedMaster(cluster, heartbeat_s=0.3).start()
    spec = with_mesos_backend(base_spec(tmp_path), master.url, tmp_path / "state.json")
    spec = dataclasses.replace(spec, backend=dataclasses.replace(spec.backend, mesos=(
        dataclasses.replace(spec.backend.mesos, failover_timeout_s=0.5))))
    run = Running(spec)
    try:
        wait_for(run.pool_up, 30, "pool up")
        old_id = run.fw.saved.framework_id
    finally:
        run.close()  # failover stop: the master keeps the tasks for 0.5 s only
    wait_for(lambda: not cluster.task_states(old_id), 10, "the framework removed")
    run = Running(spec)
    try:
        wait_for(lambda: run.fw.saved.framework_id not in (None, old_id) and run.pool_up(), 30,
                 "subscribed as a new framework with a new pool")
        assert run.fw.driver._stream_backoff_s <= 30
    finally:
        run.close()
        master.stop()


def test_executors_sized_to_jobs_launch_with_their_size_and_keep_it(running, cluster):
    """autoscaling.executor_size: jobs — the backend launches executors of the sizes asked
    for, through real offers of the emulated master, and the size survives in the task id
    (a restarted framework knows it)."""
    from framework.backends.mesos.tasks import task_size
    run = running()
    wait_for(run.pool_up, 30, "master, submitter and 2+2 executors")
    with pytest.raises(ValueError, match="cores and memory must be positive"):
        run.fw.set_desired_executors("dc", 4, {(0.0, 256.0): 1})
    run.fw.set_desired_executors("dc", 4, {(1.0, 256.0): 1, (2.0, 1280.0): 1})
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 4, 30,
             "two sized executors at dc")
    sized = sorted(r.size for r in run.active(Role.EXECUTOR, "dc") if r.size)
    assert sized == [(1.0, 256.0), (2.0, 1280.0)]
    assert all(task_size(r.task_id) == r.size for r in run.active(Role.EXECUTOR))
    tasks = {t["id"]: t["resources"] for f in cluster.state_json()["frameworks"]
             for t in f["tasks"]}
    got = sorted((res["cpus"], res["mem"]) for tid, res in tasks.items()
                 if task_size(tid) is not None)
    assert got == [(1.0, 256.0), (2.0, 1280.0)]
    # the role-size executors stay the rest: nothing more is launched
    assert len(run.active(Role.EXECUTOR, "dc")) == 4 and run.fw.launches == 8


def test_no_leader_is_said_until_one_is_elected(running, cluster, zookeeper):
    zk = zookeeper.url("/mesos-none-yet")
    run = running(spec_masters=zk)
    said = ("NO_LEADER", f"no Mesos leader at {zk}")
    wait_for(lambda: run.fw.status().reasons[:1] == [said], 10, "no leader said")
    assert not run.fw.driver.connected
    master = EmulatedMaster(cluster, heartbeat_s=0.3, zk=zk).start()
    running.masters.append(master)
    wait_for(run.pool_up, 30, "pool up once a master is elected")
    assert said not in run.fw.status().reasons and run.fw.driver.no_leader is None


def test_a_crashed_leader_whose_node_lingers_is_followed_to_the_next(running, cluster,
                                                                     zookeeper):
    """The leader dies; its ZooKeeper node stays until its session expires, so the framework
    keeps failing to connect to it, in back-off; then the follower leads."""
    run, first, second = _failover(running, cluster, zookeeper, "/mesos-lingering", 0.3)
    framework_id = run.fw.saved.framework_id
    tasks = {r.task_id for r in run.active()}
    first.crash()
    wait_for(lambda: not run.fw.driver.connected, 10, "the stream to the dead leader ends")
    assert run.fw.driver.master == first.address       # ZooKeeper still names it
    first.expire()
    wait_for(lambda: second.is_leader and run.fw.driver.master == second.address
             and run.fw.driver.connected and not run.fw.status().reconciling, 20,
             "resubscribed to the next leader")
    assert run.fw.saved.framework_id == framework_id and framework_id
    assert {r.task_id for r in run.active()} == tasks


def _failover(running, cluster, zookeeper, path: str, heartbeat_s: float = 1.0):
    """A pool up on the first of two masters registered in ZooKeeper."""
    zk = zookeeper.url(path)
    first = EmulatedMaster(cluster, heartbeat_s=heartbeat_s, zk=zk).start()
    wait_for(lambda: first.is_leader, 10, "first master elected")
    second = EmulatedMaster(cluster, heartbeat_s=heartbeat_s, zk=zk).start()
    running.masters.extend([first, second])
    run = running(spec_masters=zk)
    wait_for(run.pool_up, 30, "pool up")
    return run, first, second


def test_a_new_leader_that_knows_nothing_yet_is_reconciled_as_agents_come_back(
        running, cluster, zookeeper):
    """Mesos after a leader change: the new master learns agents and tasks only as they
    re-register (here over 30 s, seeded order); it answers nothing for the others. The
    framework resubscribes at once with its id, launches no second central manager or
    submitter, loses no task, and is reconciled soon after the last agent is back."""
    cluster.reregister_window_s = 30.0
    run, first, second = _failover(running, cluster, zookeeper, "/mesos-failover")
    framework_id = run.fw.saved.framework_id
    before = {r.task_id: r for r in run.active()}
    central = {r.task_id for r in before.values() if r.role in (Role.MASTER, Role.SUBMITTER)}
    launches = run.fw.launches
    first.stop()
    wait_for(lambda: second.is_leader, 15, "second master elected")
    wait_for(lambda: run.fw.driver.master == second.address and run.fw.driver.connected,
             2 * 1.0, "resubscribed within two heartbeat intervals")
    assert run.fw.saved.framework_id == framework_id
    wait_for(lambda: 0 < len(cluster.recovering) < 6, 30, "some agents back, some not")
    status = run.fw.status()
    assert status.reconciling and status.reasons[0][0] == "RECONCILING"
    assert "unanswered since the subscription" in status.reasons[0][1]
    # every RECONCILE names each task's agent: without it a new leader answers nothing
    bodies = [b for b in cluster.reconcile_calls if b]
    assert bodies and all("agent_id" in item for body in bodies for item in body)
    wait_for(lambda: not cluster.recovering, 40, "every agent re-registered")
    wait_for(lambda: not run.fw.status().reconciling, 5,
             "reconciled within 5 s of the last agent")
    assert {r.task_id for r in run.active()} == set(before)
    assert all(r.phase is not Phase.ENDED for r in before.values())    # none taken for lost
    assert {r.task_id for r in run.active() if r.role in (Role.MASTER, Role.SUBMITTER)} \
        == central and run.fw.launches == launches


def test_an_agent_that_never_returns_is_replaced_once_and_other_sites_go_on(
        running, cluster, zookeeper):
    cluster.reregister_window_s = 0.5
    cluster.reregister_timeout_s = 8.0
    run, first, second = _failover(running, cluster, zookeeper, "/mesos-missing-agent")
    away = run.active(Role.EXECUTOR, "campus")[0]
    on_agent = [r for r in run.active() if r.agent_id == away.agent_id]   # 1 or 2 executors
    cluster.hold_agents([away.agent_id])
    launches = run.fw.launches
    first.stop()
    wait_for(lambda: run.fw.driver.master == second.address and run.fw.driver.connected, 15,
             "resubscribed")
    # the campus executor on the missing agent is unanswered, not lost: meanwhile a new
    # executor wanted at dc is launched all the same
    run.fw.set_desired_executors("dc", 3)
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 3, 15,
             "a dc executor launched while a campus agent is away")
    assert away.phase is not Phase.ENDED and run.fw.status().reconciling
    # after the re-register timeout the master reports them TASK_UNREACHABLE (we are
    # PARTITION_AWARE): they may still run, but stop counting, so they are replaced, once
    wait_for(lambda: all(r.phase is Phase.UNREACHABLE for r in on_agent), 30,
             "the missing agent's tasks answered")
    assert {r.state for r in on_agent} == {"TASK_UNREACHABLE"}
    wait_for(lambda: len(run.active(Role.EXECUTOR, "campus", running=True)) == 2, 20,
             "replaced")
    replaced = launches + 1 + len(on_agent)          # the dc one and one per unreachable task
    assert run.fw.launches == replaced
    # the agent comes back: its tasks run on and rejoin (the elastic loop would drain the
    # surplus; nothing is killed, nothing launched)
    cluster.reregister(away.agent_id)
    wait_for(lambda: all(r.phase is Phase.RUNNING and r.returned for r in on_agent), 15,
             "the returning tasks running again")
    assert all(cluster.task_states(run.fw.saved.framework_id)[r.task_id] == "TASK_RUNNING"
               for r in on_agent)
    assert len(run.active(Role.EXECUTOR, "campus")) == 2 + len(on_agent)
    assert run.fw.launches == replaced and not any(r.phase is Phase.KILLING for r in on_agent)


def _quick_checks(spec: ClusterSpec) -> ClusterSpec:
    """Executors checked every 0.2 s, killed after 2 failures, 0.5 s of grace."""
    from framework.spec import HealthCheck
    role = spec.roles[Role.EXECUTOR]
    check = HealthCheck(grace_period_s=0.5, interval_s=0.2, timeout_s=0.2,
                        consecutive_failures=2)
    return dataclasses.replace(spec, roles={**spec.roles, Role.EXECUTOR: dataclasses.replace(
        role, health_check=check)})


def test_a_task_failing_its_health_check_is_killed_by_mesos_and_replaced(running, cluster):
    run = running(spec_edit=_quick_checks)
    wait_for(run.pool_up, 30, "pool up")
    launches = run.fw.launches
    cluster.fail_health("dc", after_s=0.3, count=1)
    run.fw.set_desired_executors("dc", 3)
    wait_for(lambda: any(r.state == "TASK_KILLED" for r in run.fw.records.values()), 15,
             "the sick executor killed")
    sick = next(r for r in run.fw.records.values() if r.state == "TASK_KILLED")
    assert sick.site == "dc" and sick.healthy is False and "health check" in sick.message
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 3, 15,
             "replaced")
    assert run.fw.launches == launches + 2          # the one asked for, the replacement


def test_a_site_whose_executors_fail_their_health_checks_is_held_as_a_black_hole(
        running, cluster, tmp_path):
    cluster.fail_health("campus", after_s=0.0)
    policy = BackoffPolicy(base_s=0.1, max_s=0.5, blackhole_failures=3, early_s=30,
                           hold_s=600)
    run = running(spec_edit=_quick_checks,
                  options=Options(reconcile_settle_s=0.3, refuse_s=0.3, backoff=policy))
    wait_for(lambda: any(c == "BLACK_HOLE" for c, _ in run.fw.status().reasons), 30,
             "the black hole detected")
    campus = [r for r in run.fw.records.values() if r.site == "campus"]
    assert campus and all(r.state == "TASK_KILLED" for r in campus if r.phase is Phase.ENDED)
    assert len(campus) <= policy.blackhole_failures + \
        base_spec(tmp_path).autoscaling.max_launches_per_tick
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 2, 20, "dc up")


def _replace_master_after(seconds: float | None):
    def edit(spec: ClusterSpec) -> ClusterSpec:
        mesos = dataclasses.replace(spec.backend.mesos, replace_unreachable_master_s=seconds)
        return dataclasses.replace(spec, backend=dataclasses.replace(spec.backend, mesos=mesos))
    return edit


def _partition_the_masters_agent(run, cluster):
    """Partition the agent of the master (pings of 0.1 s, 5 missed: unreachable after
    0.5 s); the records on it."""
    cluster.agent_ping_timeout_s = 0.1
    master = run.active(Role.MASTER)[0]
    on_agent = [r for r in run.active() if r.agent_id == master.agent_id]
    cluster.partition_agent(master.agent_id)
    wait_for(lambda: all(r.phase is Phase.UNREACHABLE for r in on_agent), 10,
             "the partitioned agent's tasks unreachable")
    assert {r.state for r in on_agent} == {"TASK_UNREACHABLE"}
    assert all("is unreachable: health check timed out" in r.message for r in on_agent)
    return master, on_agent


def test_a_partition_shorter_than_the_limit_replaces_no_central_task(running, cluster):
    """PARTITION_AWARE: the master and the submitter behind a partition may run on; they
    keep their places (the status says until when), and come back without a kill."""
    run = running(spec_edit=_replace_master_after(60.0))
    wait_for(run.pool_up, 30, "pool up")
    launches = run.fw.launches
    master, on_agent = _partition_the_masters_agent(run, cluster)
    said = wait_for(lambda: [t for c, t in run.fw.status().reasons
                             if c == "UNREACHABLE" and master.task_id in t], 5, "the reason")
    assert "replaced in" in said[0] and "unless it returns" in said[0]
    executors = [r for r in on_agent if r.role is Role.EXECUTOR]
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) == 2, 20,
             "its executors replaced (they stop counting)")
    assert run.fw.launches == launches + len(executors)
    assert not run.active(Role.MASTER)                 # kept, but not counted as running
    cluster.heal_agent(master.agent_id)
    # (a central task that is back alone is the established one again: not "returned")
    wait_for(lambda: all(r.phase is Phase.RUNNING and r.unreachable_at is None
                         for r in on_agent), 10, "the agent's tasks back")
    assert all(r.returned for r in on_agent if r.role is Role.EXECUTOR)
    assert run.fw.launches == launches + len(executors)          # no central task launched
    assert [r.task_id for r in run.active(Role.MASTER)] == [master.task_id]
    assert all(cluster.task_states(run.fw.saved.framework_id)[r.task_id] == "TASK_RUNNING"
               for r in on_agent)                                 # nothing killed
    assert len(run.active(Role.EXECUTOR, "dc")) == 2 + len(executors)   # the surplus: drained
    assert [e for e, _ in cluster.partition_log] == ["partitioned", "unreachable", "healed",
                                                     "returned"]


def test_a_master_replaced_past_the_limit_cannot_take_the_held_address(running, cluster):
    """Past the operator's limit the master is replaced; while the old one still holds the
    fixed address behind the partition each replacement fails ("Address already in use"),
    which backs off but never holds the site as a black hole. When the old one returns
    it is the master again: one, never two; the submitter (never replaced by default)
    keeps its place throughout."""
    run = running(spec_edit=_replace_master_after(0.5))
    wait_for(run.pool_up, 30, "pool up")
    launches = run.fw.launches
    master, on_agent = _partition_the_masters_agent(run, cluster)
    wait_for(lambda: run.fw.failures >= 2, 20, "replacements tried")
    tried = [r for r in run.fw.records.values() if r.role is Role.MASTER and r is not master
             and r.phase is Phase.ENDED]
    assert tried and all("Address already in use" in r.message for r in tried)
    assert "BLACK_HOLE" not in dict(run.fw.status().reasons)
    reason = [t for c, t in run.fw.status().reasons if c == "UNREACHABLE" and "master" in t]
    assert reason and "cannot start while the old one still holds" in reason[0]
    # executors on the partitioned agent were replaced at dc meanwhile (not a black hole)
    wait_for(lambda: len(run.active(Role.EXECUTOR, "dc", running=True)) >= 2 or
             not any(r.role is Role.EXECUTOR for r in on_agent), 20, "dc executors")
    cluster.heal_agent(master.agent_id)
    wait_for(lambda: master.phase is Phase.RUNNING and master.unreachable_at is None, 15,
             "the old master back")
    wait_for(lambda: not any(r.phase in (Phase.LAUNCHING, Phase.STARTING)
                             for r in run.fw.records.values() if r.role is Role.MASTER), 15,
             "no replacement under way")
    masters = [r for r in run.fw.records.values() if r.role is Role.MASTER
               and r.phase is not Phase.ENDED]
    assert masters == [master]
    subs = [r for r in run.fw.records.values() if r.role is Role.SUBMITTER
            and r.phase is not Phase.ENDED]
    assert len(subs) == 1 and run.fw.launches > launches
