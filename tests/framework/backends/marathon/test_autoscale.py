"""The elastic loop sizes each site's executor app in Marathon mode, on a simulated
workload, without killing a running job.

The production planner and actuator on :class:`MarathonBackend` against the strict
Marathon emulator on the emulated Mesos cluster (simulated task runner); the pool's
queue and startds are scripted from the tasks Marathon runs (:class:`JobsPool`): each
running, healthy executor task gets a startd that takes one idle job of its site, which
runs for a few seconds. A task that disappears while it holds a running job is a killed
job: the test's main assertion is that there is none.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from framework.backends.marathon.backend import MarathonBackend
from framework.backends.marathon.render import app_id
from framework.clock import WallClock
from framework.elastic import ElasticLoop
from framework.actuator import PoolControl
from framework.model import Role
from framework.monitor import JobShape, PoolMonitor, PoolSnapshot, StartdInfo
from framework.planner.decision import Drain
from framework.sim.marathon_run import MarathonRun
from framework.spec import parse_spec

SPEC = """
pool: {name: mscale, trust_domain: mscale.example, signing_key_file: key}
sites:
  - {name: dc, agents: {attribute: "site:dc"}, calico: {network: calico-dc, cidr: 10.1.0.0/16},
     executors: {min: 0, max: 6}}
  - {name: campus, agents: {region: campus-east}, private: true,
     calico: {network: calico-campus, cidr: 10.2.0.0/16}, executors: {min: 0, max: 6}}
roles:
  master: {image: m, cpus: 1, mem: 1024, health_check: {grace_period: 30, interval: 1}}
  submitter: {image: s, cpus: 1, mem: 1024, health_check: {grace_period: 30, interval: 1}}
  executor: {image: e, cpus: 1, mem: 1024, disk: 1024,
             health_check: {grace_period: 30, interval: 1}}
autoscaling: {enabled: true, max_executors: 12, max_launches_per_tick: 10, tick: 0.2,
              idle_before_scale_in: 1, scale_up_cooldown: 0.5, scale_down_cooldown: 0.5}
backend: {type: sim, sim: {agents_per_site: 3, seed: 5}}
"""
JOBS = {"dc": 4, "campus": 2}
JOB_S = 3.0


class JobsPool(PoolMonitor, PoolControl):
    """The queue and the startds, scripted from Marathon's executor tasks."""

    def __init__(self, run: MarathonRun) -> None:
        self.run = run
        self.idle = dict(JOBS)
        self.running: dict[str, tuple[str, float]] = {}   # task id → (site, job ends at)
        self.done = {site: 0 for site in JOBS}
        self.killed_jobs: list[str] = []
        self.draining: set[str] = set()
        self.idle_since: dict[str, float] = {}
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def snapshot(self, now: float) -> PoolSnapshot:
        tasks = {t.id: t for t in self.run.tasks(Role.EXECUTOR)
                 if t.state == "TASK_RUNNING" and t.healthy}
        sites = {t.id: s for s in JOBS for t in self.run.tasks(Role.EXECUTOR, s)}
        with self.lock:
            for task_id, (site, ends) in list(self.running.items()):
                if task_id not in tasks:              # the executor went under its job
                    self.killed_jobs.append(task_id)
                    del self.running[task_id]
                elif ends <= now:
                    self.done[site] += 1
                    del self.running[task_id]
                    self.idle_since[task_id] = now
            ads = []
            for task_id in sorted(tasks):
                site = sites[task_id]
                self.seen.add(task_id)
                if task_id not in self.running and task_id not in self.draining \
                        and self.idle[site] > 0:
                    self.idle[site] -= 1
                    self.running[task_id] = (site, now + JOB_S)
                    self.idle_since.pop(task_id, None)
                busy = task_id in self.running
                since = None if busy else self.idle_since.setdefault(task_id, now)
                ads.append(StartdInfo(f"slot1@{task_id}", task_id, site, 1.0, 1024.0,
                                      0.0 if busy else 1.0, 0.0 if busy else 1024.0,
                                      int(busy), task_id in self.draining, time.time(),
                                      since))
            jobs = tuple(JobShape(1.0, 512.0, site, n) for site, n in self.idle.items() if n)
            running = {site: sum(1 for s, _ in self.running.values() if s == site)
                       for site in JOBS}
        return PoolSnapshot(now, True, tuple(ads), jobs, running, data_at=now)

    def drain(self, startd: StartdInfo) -> str:
        with self.lock:
            self.draining.add(startd.task_id)
        return f"drain-{startd.task_id}"

    def cancel_drain(self, drain: Drain) -> None:
        with self.lock:
            self.draining.discard(drain.task_id)


def instances(run: MarathonRun, site: str) -> int:
    app = run.marathon.app(app_id(run.spec, Role.EXECUTOR, site))
    return int(app["instances"]) if app else -1


@pytest.mark.timeout(240)
def test_the_loop_grows_and_shrinks_each_site_app_without_killing_a_running_job(
        tmp_path: Path):
    (tmp_path / "key").write_bytes(b"marathon autoscale test key\n")
    spec = parse_spec(SPEC, "mscale", tmp_path)
    with MarathonRun(spec, tmp_path) as run:
        run.apply(wait=True, timeout_s=60)
        assert {s: instances(run, s) for s in JOBS} == {"dc": 0, "campus": 0}
        pool = JobsPool(run)
        clock = WallClock()
        backend = MarathonBackend(run.spec, run.client, clock)
        loop = ElasticLoop(run.spec, pool, backend, pool)
        writes_before = len(run.marathon.writes())
        peak = {site: 0 for site in JOBS}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            loop.tick(clock.now())
            for site in JOBS:
                peak[site] = max(peak[site], instances(run, site))
            finished = pool.done == JOBS and all(instances(run, s) == 0 for s in JOBS) \
                and not run.tasks(Role.EXECUTOR)
            if finished:
                break
            time.sleep(0.2)
        assert pool.done == JOBS, (pool.done, pool.idle, pool.running)
        assert pool.killed_jobs == []                 # no executor went under a job
        # one executor per job at each site (1-core executors), then back to the minimum
        assert peak == JOBS
        assert {s: instances(run, s) for s in JOBS} == {"dc": 0, "campus": 0}
        assert run.tasks(Role.EXECUTOR) == []
        writes = run.marathon.writes()[writes_before:]
        removals = [w for w in writes if w[1].startswith("/v2/tasks/delete")]
        assert removals and all("scale=true" in w[1] for w in removals), writes
        # instances only go down through named tasks: every version of an executor app
        # made by a PUT has more instances than the one before (test_backend.py: the
        # backend never lowers them)
        assert all(w[0] in ("PUT", "POST") for w in writes), writes
        for site in JOBS:
            app = app_id(run.spec, Role.EXECUTOR, site)
            versions = run.marathon.store.versions[app]
            counts = [versions[v]["instances"] for v in sorted(versions)]
            drops = sum(1 for a, b in zip(counts, counts[1:]) if b < a)
            assert drops <= len(removals), (site, counts)
        assert len(pool.seen) == sum(JOBS.values())   # no executor launched twice over
