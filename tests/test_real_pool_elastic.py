"""The queue drives a real pool: jobs make executors start at their sites, an empty queue
drains and removes them, a running job is never killed, and a collector that cannot be
reached for 120 s stops every removal until it answers again. Last, the operator's
drains (docs/operators.md): a drained node runs its job to the end (a long retirement under
the operator's drain, MAXJOBRETIREMENTTIME 0 otherwise) and only then is its executor
removed; a drained site removes its idle executors and launches nothing for a queued job
until it is undrained. The requests go to the loop's operator methods, as the REST API
sends them (the API itself: tests/dashboards, tests/test_demo_dashboard.py).

The production framework with its elastic loop (monitor through the bindings worker,
planner, actuator: drains with the framework's own token) against the strict Mesos
emulator whose agents run the real role images; two sites on iptables'd networks.
"""
from __future__ import annotations

import subprocess
import time
from typing import Iterator

import pytest

from framework.elastic import ElasticLoop
from framework.model import Role
from framework.planner import Code
from framework.sim.condorpool import SubmitHost
from tests.realpool import RealPool, job_attrs, wait_job
from tests.services import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    # a master whose checks fail is replaced only after 300 in a row: the outage tests
    # below keep the collector away for 120 s, not until the framework heals it
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("elastic"), {},
                    elastic=True, master_failures=300)
    try:
        yield real.start()
    finally:
        real.close()


@pytest.fixture(scope="module")
def host(pool: RealPool) -> SubmitHost:
    return pool.submit_host()


def executors(pool: RealPool, site: str | None = None) -> list:
    return [r for r in pool.run.records() if r.role is Role.EXECUTOR and r.phase.active
            and (site is None or r.site == site)]


def test_the_queue_grows_the_pool_at_the_right_sites_and_an_empty_queue_shrinks_it(
        pool: RealPool, host: SubmitHost):
    assert executors(pool) == []                      # min 0: an empty pool to begin with
    short = host.submit("campus", 3, 3)               # 3 × 1 core: two 2-core executors
    long = host.submit("dc", 50, 1, command="sleep 50; hostname")
    pool.run.wait(lambda: len(executors(pool, "campus")) == 2
                  and len(executors(pool, "dc")) == 1, 90, "executors at both sites")
    wait_job(host, short, lambda js: all(j.status == "completed" for j in js), 120,
             "the campus jobs")
    (job,) = wait_job(host, long, lambda js: js[0].status == "running", 60, "the long job")
    dc_task = pool.run.wait(lambda: next((r.task_id for r in executors(pool, "dc")), None), 5,
                            "the dc executor")
    # the campus executors drain and go while the dc one (1 of 2 cores busy) runs its job
    pool.run.wait(lambda: not executors(pool, "campus"), 90, "campus drained and removed")
    assert job_attrs(host, long, "JobStatus")[0] == ["2"]     # still running ...
    assert dc_task in {r.task_id for r in executors(pool, "dc")}   # ... and kept
    wait_job(host, long, lambda js: js[0].status == "completed", 90, "the long job done")
    pool.run.wait(lambda: not executors(pool), 90, "every executor removed")
    starts = job_attrs(host, long, "NumJobStarts")[0][0]
    assert starts == "1", starts                      # never vacated, never run twice
    # the order of things, from the decisions: removals only after a drain, and the
    # executor whose job ran removed only after that job ended (a drain asked in the second
    # the job started is refused by the startd's own check: worker.DRAIN_CHECK)
    codes = [r.code for _, d in pool.decisions for r in d.reasons]
    assert Code.SCALE_UP in codes and Code.DRAIN in codes and Code.DRAINED in codes
    removed = [wall for wall, d in pool.decisions if dc_task in d.kill]
    ended = int(job_attrs(host, long, "CompletionDate")[0][0])
    assert removed and all(wall >= ended for wall in removed), (removed, ended)
    assert not any(r.state == "TASK_FAILED" for r in pool.run.records()
                   if r.role is Role.EXECUTOR)


def idle_dc_executor(pool: RealPool, host: SubmitHost):
    """A dc executor that ran a job and is idle now, seen so by a fresh snapshot."""
    cluster = host.submit("dc", 1, 1)
    wait_job(host, cluster, lambda js: js[0].status == "completed", 120, "a job")
    (idle,) = executors(pool, "dc")
    ended = int(job_attrs(host, cluster, "CompletionDate")[0][0])
    assert wait_for(lambda: any(wall > ended + 1 and d.fresh for wall, d in pool.decisions),
                    30), "no fresh look at the idle executor"
    return idle


def kept_through_outage(pool: RealPool, idle, what: str) -> None:
    """For 120 s (an outage the caller made) the idle executor must stay."""
    began = time.monotonic()
    kept = lambda: idle.task_id in {r.task_id for r in executors(pool, "dc")}  # noqa: E731
    assert wait_for(lambda: not kept() or time.monotonic() - began >= 120, 130,
                    interval_s=1.0)
    assert kept(), (f"an executor was removed while {what}: "
                    f"{[(r.task_id, r.phase.value, r.state, r.message[:200]) for r in pool.run.records() if r.task_id == idle.task_id]}")


def stale_then_recovered(pool: RealPool, seen: int) -> None:
    """The loop kept deciding through the outage, stale, saying why and removing
    nothing; then it sees the pool again and the idle executor goes."""
    during = [d for _, d in pool.decisions[seen:]]
    assert len(during) >= 3, "the loop kept running"
    stale = [d for d in during if not d.fresh]
    assert stale and all(not d.drain and not d.kill for d in stale)
    assert any(Code.STALE in d.codes() for d in stale), [d.reasons for d in stale]
    pool.run.wait(lambda: not executors(pool), 150, "recovered and shrank")
    assert any(d.fresh for _, d in pool.decisions[seen + len(during):])


def test_an_unreachable_collector_removes_nothing_and_the_loop_recovers(
        pool: RealPool, host: SubmitHost):
    """The framework cut off from the collector (the pool itself runs on)."""
    idle = idle_dc_executor(pool, host)
    rule = ["OUTPUT", "-d", pool.spec.master_address, "-p", "tcp", "--dport", "9618",
            "-j", "DROP"]
    seen = len(pool.decisions)
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        kept_through_outage(pool, idle, "the collector could not be reached")
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=True)
    stale_then_recovered(pool, seen)


def test_a_stopped_central_manager_removes_nothing_and_the_loop_recovers(
        pool: RealPool, host: SubmitHost):
    """The master container itself frozen (``docker pause``: its collector takes
    connections and never answers) for 120 s: no removal (the executors' health checks
    tolerate it), and the loop says why; then the master is unpaused, the pool comes
    back and the idle executor is drained and removed."""
    idle = idle_dc_executor(pool, host)
    master = pool.container(pool.one(Role.MASTER).task_id)
    seen = len(pool.decisions)
    master.pause()
    try:
        kept_through_outage(pool, idle, "the central manager was stopped")
    finally:
        master.unpause()
    stale_then_recovered(pool, seen)


WHO = "test@127.0.0.1"


def the_loop(pool: RealPool) -> ElasticLoop:
    return pool.run.wait(lambda: pool.run.elastic_thread and pool.run.elastic_thread.loop,
                         30, "the elastic loop")


def test_a_drained_node_finishes_its_job_and_a_drained_site_launches_nothing(pool: RealPool):
    """Both at once (the 40-s job sets the pace): the node drain at dc, the site drain at
    campus while the dc job runs."""
    loop, host = the_loop(pool), pool.submit_host()
    loop.set_site("campus", {"desired": 1}, WHO)         # an idle executor to drain there
    long = host.submit("dc", 40, 1, command="sleep 40; hostname")
    (job,) = wait_job(host, long, lambda js: js[0].status == "running", 90, "the 40-s job")
    (dc,) = executors(pool, "dc")
    pool.run.wait(lambda: [r for r in executors(pool, "campus") if r.confirmed], 60,
                  "the campus executor running")
    startd = pool.run.wait(lambda: pool.startd_of(dc.task_id), 30, "the dc startd's ad")
    # the loop names nodes as its last snapshot saw them: one with the job running
    pool.run.wait(lambda: loop.status.latest().site("dc").jobs_running == 1, 30,
                  "the loop seeing the job")
    # the node by its startd name, the site by name
    assert loop.drain_node(startd["Name"], WHO)["task_id"] == dc.task_id
    loop.drain_site("campus", WHO)
    drained_at, seen = time.time(), len(pool.decisions)
    # the busy node drains with the operator's reason, its job retiring (not vacated)
    slots = pool.run.wait(lambda: [a for a in pool.ads(
        "Startd", f'HTCMESOS_TASK_ID == "{dc.task_id}"',
        ("Name", "State", "Activity", "Draining", "DrainReason")) if a["Draining"]], 30,
        "the dc startd draining")
    assert {a["DrainReason"] for a in slots} == {"htcmesos-operator"}, slots
    assert any(a["State"] == "Claimed" and a["Activity"] == "Retiring" for a in slots), slots
    # the campus executor was idle: drained and removed at once; then a job queued for
    # the drained site gets no executor
    pool.run.wait(lambda: not executors(pool, "campus"), 60, "campus emptied")
    short = host.submit("campus", 3, 1)
    said = lambda: [d for _, d in pool.decisions[seen:] if any(  # noqa: E731
        (r.code, r.site) == (Code.SITE_DRAINED, "campus") for r in d.reasons)]
    pool.run.wait(lambda: len(said()) >= 3, 30, "the campus job waiting, the site drained")
    after = [d for _, d in pool.decisions[seen:]]
    assert all(d.launches.get("campus", 0) == 0 and d.desired["campus"] == 0 for d in after)
    assert not executors(pool, "campus")
    assert [j.status for j in host.jobs() if j.cluster == short] == ["idle"]
    assert dc.task_id in {r.task_id for r in executors(pool, "dc")}   # its job runs on
    assert job_attrs(host, long, "JobStatus")[0] == ["2"]
    status = loop.status.latest().site("campus")
    assert (status.drained, status.wanted, status.jobs_idle) == (True, 0, 1)
    # undrained (and back to the queue): the campus job runs
    loop.undrain_site("campus", WHO)
    loop.set_site("campus", {"desired": None}, WHO)
    wait_job(host, short, lambda js: js[0].status == "completed", 90, "the campus job")
    # the dc job ends; only then is its executor removed; it started once, never vacated
    wait_job(host, long, lambda js: js[0].status == "completed", 90, "the 40-s job done")
    pool.run.wait(lambda: dc.task_id not in {r.task_id for r in executors(pool, "dc")}, 60,
                  "the drained dc executor removed")
    assert job_attrs(host, long, "NumJobStarts")[0] == ["1"]
    ended = int(job_attrs(host, long, "CompletionDate")[0][0])
    removed = [wall for wall, d in pool.decisions if dc.task_id in d.kill]
    assert removed and all(wall >= ended for wall in removed), (removed, ended)
    kept = [d for wall, d in pool.decisions if drained_at <= wall < ended]
    assert kept and all(dc.task_id not in d.kill and dc.task_id not in
                        {c.task_id for c in d.cancel} for d in kept)
    assert any(r.code is Code.OPERATOR_DRAIN and "still running" in r.detail
               for d in kept for r in d.reasons)
    pool.run.wait(lambda: not loop.controls.node_drains, 10, "the node drain forgotten")
    actions = [(a.action, a.who) for a in loop.status.actions()]
    assert actions[:5] == [("set_site", WHO), ("undrain_site", WHO), ("drain_site", WHO),
                           ("drain_node", WHO), ("set_site", WHO)]
