"""A Mesos agent partitioned for two minutes under a real HTCondor pool (real daemons in
the role images on the local Docker engine, the strict Mesos emulator, the production
framework): the central manager's agent is cut off — from the master (missed pings, then
TASK_UNREACHABLE after Mesos' default 15 s × 5) and from the network (its containers'
interfaces go down; they keep their addresses, as a cut-off host's workloads keep theirs in
Calico's IPAM). The operator allows replacing an unreachable master after 20 s: each
replacement fails on the fixed address the cut-off master still holds, which backs off
without taking the site for a black hole. When the partition heals the old master is back:
one master, never two; the returning executors run on. Jobs keep running throughout
(HTCondor's job leases carry shadows and starters over the cut) and none is lost.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Iterator

import pytest

from framework.autoscaler.lifecycle import Phase
from framework.model import Role
from tests.realpool import RealPool, job_attrs, wait_job
from tests.services import wait_for

pytestmark = pytest.mark.docker

PARTITION_S = 120.0
REPLACE_AFTER_S = 20.0
LEASE_S = 600          # the shadow and the starter wait this long for each other


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("partition"),
                    {"dc": 2, "campus": 1}, job_lease_s=LEASE_S)
    mesos = dataclasses.replace(real.run.spec.backend.mesos,
                                replace_unreachable_master_s=REPLACE_AFTER_S)
    real.run.spec = dataclasses.replace(real.run.spec, backend=dataclasses.replace(
        real.run.spec.backend, mesos=mesos))
    try:
        yield real.start()
    finally:
        real.close()


@pytest.mark.timeout(900)
def test_a_two_minute_partition_of_the_masters_agent_loses_no_job(pool: RealPool):
    host = pool.submit_host()
    cluster = pool.run.cluster
    old = pool.one(Role.MASTER)
    on_agent = {r.task_id for r in pool.run.records() if r.agent_id == old.agent_id
                and r.phase is not Phase.ENDED}
    # jobs that run across the whole partition, at both sites
    long_jobs = host.submit("dc", PARTITION_S + 30, 2)
    campus_job = host.submit("campus", PARTITION_S + 30, 1)
    jobs = []
    for c in (long_jobs, campus_job):
        jobs += wait_job(host, c, lambda js: all(j.status == "running" for j in js), 120,
                         "long jobs running")
    hosts = {j.host.split("@", 1)[1] for j in jobs}

    def stopped_jobs() -> list[str]:
        """The hosts whose job is not running its ``sleep`` (its starter gone or waiting)."""
        dead = []
        for name in hosts:
            container = next(c for c in pool.client.containers.list()
                             if c.attrs["Config"]["Hostname"] == name)
            _, out = container.exec_run(["sh", "-c", "cat /proc/[0-9]*/comm"])
            names = out.decode(errors="replace").split()
            if "condor_starter" not in names or "sleep" not in names:
                dead.append(f"{name}: {names}")
        return dead

    # running means claimed: wait until each job's own process runs (input transferred)
    assert wait_for(lambda: not stopped_jobs(), 60, interval_s=1), stopped_jobs()
    started = time.monotonic()
    cluster.partition_agent(old.agent_id)

    # Mesos' default ping timeout: unreachable after 75 s; the master keeps its place for
    # the operator's 20 s, then replacements are tried: each fails on the held address
    pool.run.wait(lambda: old.task_id in {r.task_id for r in pool.run.records()
                                          if r.phase is Phase.UNREACHABLE}, 120,
                  "the master unreachable")
    unreachable_after = time.monotonic() - started
    tried = pool.run.wait(lambda: [r for r in pool.run.records() if r.role is Role.MASTER
                                   and r.task_id != old.task_id and r.phase is Phase.ENDED],
                          PARTITION_S - unreachable_after, "a replacement master tried")
    assert all("Address already in use" in r.message for r in tried), \
        [r.message for r in tried]
    assert "BLACK_HOLE" not in dict(pool.run.status.reasons)
    # the long jobs run on in their starters, cut off or not
    assert not stopped_jobs(), f"jobs stopped during the partition: {stopped_jobs()}"

    remaining = PARTITION_S - (time.monotonic() - started)
    assert remaining > 0, f"the partition outlasted {PARTITION_S:g} s before it could heal"
    time.sleep(remaining)          # the partition's length is the test's subject
    cluster.heal_agent(old.agent_id)
    healed_after = time.monotonic() - started

    # the old master is back, healthy at its address: the only master
    pool.run.wait(lambda: any(r.task_id == old.task_id and r.unreachable_at is None
                              and r.confirmed for r in pool.run.records()), 90,
                  "the old master back")
    pool.run.wait(lambda: not [r for r in pool.run.records() if r.role is Role.MASTER
                               and r.phase in (Phase.LAUNCHING, Phase.STARTING)], 60,
                  "no replacement under way")
    masters = [r.task_id for r in pool.run.records() if r.role is Role.MASTER
               and r.phase is not Phase.ENDED]
    assert masters == [old.task_id]
    rec = {r.task_id: r for r in pool.run.records()}
    # the other tasks of the partitioned agent came back and run on (nothing killed)
    back = [rec[t] for t in on_agent if t != old.task_id]
    assert all(r.phase is Phase.RUNNING and r.unreachable_at is None for r in back), back
    assert all(r.returned for r in back if r.role is Role.EXECUTOR), back
    # every job completes, each started once: none was lost or restarted
    for c, n in ((long_jobs, 2), (campus_job, 1)):
        wait_job(host, c, lambda js: len(js) == n and all(j.status == "completed" for j in js),
                 PARTITION_S + 180, "the long jobs completed")
        starts = [row[0] for row in job_attrs(host, c, "NumJobStarts")]
        assert starts == ["1"] * n, (c, starts)
    assert wait_for(lambda: len(pool.ads("Collector")) == 1, 30, interval_s=1)
    print(f"unreachable after {unreachable_after:.0f} s, {len(tried)}+ replacement(s) "
          f"refused the address, healed after {healed_after:.0f} s; on the partitioned "
          f"agent: {sorted(on_agent)}")
