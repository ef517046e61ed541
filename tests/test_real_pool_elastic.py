"""The queue drives a real pool: jobs make executors start at their sites, an empty queue
drains and removes them, a running job is never killed, and a collector that cannot be
reached for 120 s stops every removal until it answers again.

The production framework with its elastic loop (monitor through the bindings worker,
planner, actuator: drains with the framework's own token) against the strict Mesos
emulator whose agents run the real role images; two sites on iptables'd networks.
"""
from __future__ import annotations

import subprocess
import time
from typing import Iterator

import pytest

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
