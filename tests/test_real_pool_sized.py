"""Executors sized to jobs (``autoscaling.executor_size: jobs``) on a real pool: each job
gets an executor of its own size, whose startd advertises that size and starts no job of
another size, and the pool is empty again once the jobs are done.

The production framework with its elastic loop against the strict Mesos emulator whose
agents run the real role images (HTCondor 23.9 daemons), as tests/test_real_pool_elastic.py.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from framework.backends.mesos.tasks import task_size
from framework.model import Role
from framework.planner import Code
from framework.sim.condorpool import SubmitHost
from tests.realpool import RealPool, job_attrs, wait_job

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("sized"), {},
                    elastic=True, executor_size="jobs")
    try:
        yield real.start()
    finally:
        real.close()


def executors(pool: RealPool, site: str | None = None) -> list:
    return [r for r in pool.run.records() if r.role is Role.EXECUTOR and r.phase.active
            and (site is None or r.site == site)]


def test_each_job_gets_an_executor_of_its_size_and_none_is_left_idle(pool: RealPool):
    host: SubmitHost = pool.submit_host()
    assert executors(pool) == []
    # the executor role is 2 cores, 2048 MiB: the slot mode would put both 1-core jobs on
    # one executor; sized to jobs, each job has its own (memory 64 MiB → 256 MiB)
    two = host.submit("dc", 25, 1, cpus=2)
    ones = host.submit("dc", 25, 2, cpus=1)
    pool.run.wait(lambda: len(executors(pool, "dc")) == 3, 90, "three executors at dc")
    sizes = sorted(r.size for r in executors(pool, "dc"))
    assert sizes == [(1.0, 256.0), (1.0, 256.0), (2.0, 256.0)], sizes
    assert sorted(task_size(r.task_id) for r in executors(pool, "dc")) == sizes
    for cluster, n in ((two, 1), (ones, 2)):
        wait_job(host, cluster, lambda js, n=n: len(js) == n and all(
            j.status in ("running", "completed") for j in js), 120, f"cluster {cluster}")
    # every startd advertises its task's size; each ran exactly the job it was made for
    ads = pool.ads("Startd", "PartitionableSlot =?= true",
                   ("HTCMESOS_TASK_ID", "TotalSlotCpus", "TotalSlotMemory"))
    by_task = {a["HTCMESOS_TASK_ID"]: (float(a["TotalSlotCpus"]), float(a["TotalSlotMemory"]))
               for a in ads}
    assert {t: by_task.get(t) for t in (r.task_id for r in executors(pool, "dc"))} == {
        r.task_id: r.size for r in executors(pool, "dc")}
    wait_job(host, two, lambda js: js[0].status == "completed", 120, "the 2-core job")
    wait_job(host, ones, lambda js: all(j.status == "completed" for j in js), 120,
             "the 1-core jobs")
    hosts = [row[0] for c in (two, ones) for row in job_attrs(host, c, "LastRemoteHost")]
    assert len(hosts) == 3 and len(set(h.split("@")[-1] for h in hosts)) == 3, hosts
    starts = [row[0] for c in (two, ones) for row in job_attrs(host, c, "NumJobStarts")]
    assert starts == ["1", "1", "1"], starts
    pool.run.wait(lambda: not executors(pool), 90, "every executor removed")
    codes = [r.code for _, d in pool.decisions for r in d.reasons]
    assert Code.SCALE_UP in codes and Code.DRAINED in codes


def test_a_drain_that_races_a_claim_is_refused_and_the_job_runs_on(pool: RealPool):
    """The planner decides on ads up to one update old: a drain sent to a startd that has
    just been claimed must not evict the job (MAXJOBRETIREMENTTIME is 0). The startd
    refuses it itself (framework/condor/worker.py DRAIN_CHECK)."""
    from framework.errors import DrainRefused
    from framework.monitor.snapshot import StartdInfo
    host: SubmitHost = pool.submit_host()
    cluster = host.submit("campus", 30, 1)
    wait_job(host, cluster, lambda js: js[0].status == "running", 120, "the job")
    (executor,) = executors(pool, "campus")
    ad = pool.ads("Startd", f'HTCMESOS_TASK_ID == "{executor.task_id}" && '
                            f'PartitionableSlot =?= true', ("Name", "MyAddress"))[0]
    # what a stale ad would have shown: idle, no claim
    stale = StartdInfo(ad["Name"], executor.task_id, "campus", 1.0, 256.0, 1.0, 256.0, 0,
                       False, 0.0, 0.0, ad["MyAddress"])
    with pytest.raises(DrainRefused, match="refused to drain"):
        pool.control().drain(stale)
    assert job_attrs(host, cluster, "JobStatus")[0] == ["2"]
    assert not pool.ads("Startd", f'HTCMESOS_TASK_ID == "{executor.task_id}" && '
                                  f'Draining =?= true', ("Name",))
    wait_job(host, cluster, lambda js: js[0].status == "completed", 120, "the job done")
    assert job_attrs(host, cluster, "NumJobStarts")[0] == ["1"]
    pool.run.wait(lambda: not executors(pool), 90, "the executor removed after its job")
