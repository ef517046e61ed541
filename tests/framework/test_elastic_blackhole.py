"""A black-hole site under elastic demand: the production framework and its elastic loop
(ElasticThread: planner + actuator on MesosBackend) against the strict emulated master,
the pool's state scripted by a fake monitor. Idle jobs pinned to the black hole ("campus",
where every executor dies right after it is healthy) keep the planner asking for
executors there; the site must get at most ``blackhole_failures`` (5) launches before each
hold, and "dc" must still grow to cover its own jobs."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from framework.autoscaler.backoff import BackoffPolicy
from framework.backends.mesos.framework import MesosFramework, Options, PoolStatus
from framework.model import Role
from framework.monitor import JobShape, PoolMonitor, PoolSnapshot, StartdInfo
from framework.planner import Code, Decision
from framework.sim.emulated_run import EmulatedRun
from framework.spec import ClusterSpec, parse_spec

# campus first: the planner's per-tick launch budget goes to it before dc
SPEC = """
pool: {name: bhole, trust_domain: bhole.example, signing_key_file: key}
sites:
  - name: campus
    agents: {region: campus-east}
    private: true
    calico: {network: calico-campus, cidr: 10.2.0.0/16}
    executors: {min: 0, max: 10}
  - {name: dc, calico: {network: calico-dc, cidr: 10.1.0.0/16}, executors: {min: 0, max: 10}}
roles:
  master: {image: m, cpus: 1, mem: 1024}
  submitter: {image: s, cpus: 1, mem: 1024}
  executor: {image: e, cpus: 2, mem: 2048, disk: 1024}
autoscaling: {enabled: true, max_executors: 20, max_launches_per_tick: 10, tick: 0.1,
              scale_up_cooldown: 1}
backend: {type: sim, sim: {agents_per_site: 5, seed: 3}}
"""
# 10 executors wanted at campus: more than 5, and the planner's whole
# max_launches_per_tick (10): dc still grows because a held site spends none of it.
CAMPUS_JOBS = 20
DC_JOBS = 6           # 3 executors
DC_WANTED = DC_JOBS // 2
LIMIT = 5             # the acceptance bound (BackoffPolicy().blackhole_failures)


class ScriptedPool(PoolMonitor):
    """Always a fresh snapshot: the same idle 1-core jobs, pinned to campus and to dc, and
    a startd ad (2 free cores, no claim) for each dc executor running and healthy, so the
    dc jobs are covered once there are DC_WANTED of them. Campus executors never get an ad
    (they die first)."""

    def __init__(self) -> None:
        self.fw: MesosFramework | None = None

    def snapshot(self, now: float) -> PoolSnapshot:
        fw = self.fw
        records = fw.snapshot_records() if fw is not None else []
        ads = tuple(StartdInfo(f"slot1@{r.task_id}", r.task_id, r.site, 2.0, 2048.0, 2.0,
                               2048.0, 0, False, time.time())
                    for r in records
                    if r.role is Role.EXECUTOR and r.site == "dc" and r.confirmed)
        jobs = (JobShape(1.0, 512.0, "campus", CAMPUS_JOBS), JobShape(1.0, 512.0, "dc", DC_JOBS))
        return PoolSnapshot(now, True, ads, jobs, {"campus": 0, "dc": 0}, data_at=now)


class Watch:
    """What the test reads on every framework tick: each hold (told apart by its text,
    the hold doubles each time) and the campus launches made before it was first seen."""

    def __init__(self) -> None:
        self.run: EmulatedRun | None = None
        self.holds: list[tuple[str, int]] = []      # (reason text, campus launches by then)
        self.decisions: list[Decision] = []
        self.lock = threading.Lock()

    def campus_launches(self) -> int:
        assert self.run is not None and self.run.fw is not None
        return sum(1 for r in self.run.fw.snapshot_records()
                   if r.role is Role.EXECUTOR and r.site == "campus")

    def on_status(self, status: PoolStatus) -> None:
        for code, text in status.reasons:         # the framework's word (while it wants more)
            if code == "BLACK_HOLE" and "campus" in text:
                self._hold(text)

    def on_decision(self, decision: Decision) -> None:
        with self.lock:
            self.decisions.append(decision)
        for r in decision.reasons:                # the planner's (it then wants none there)
            if r.code is Code.SITE_HELD and r.site == "campus" and "black hole" in r.detail:
                self._hold(r.detail[r.detail.index("site campus is a black hole"):])

    def _hold(self, text: str) -> None:
        with self.lock:
            if all(text != seen for seen, _ in self.holds):
                self.holds.append((text, self.campus_launches()))

    def per_hold(self) -> list[int]:
        """Campus launches between one hold and the next (the first: since the start)."""
        counts = [n for _, n in self.holds]
        return [b - a for a, b in zip([0] + counts, counts)]


def start(tmp_path: Path, policy: BackoffPolicy, after_s: float) -> tuple[EmulatedRun, Watch]:
    (tmp_path / "key").write_text("black hole test signing key\n")
    spec: ClusterSpec = parse_spec(SPEC, "bhole", tmp_path)
    pool, watch = ScriptedPool(), Watch()
    run = EmulatedRun(spec, tmp_path, tick_s=0.1, allocation_interval_s=0.1,
                      options=Options(reconcile_settle_s=0.3, refuse_s=0.3, idle_refuse_s=1.0,
                                      backoff=policy),
                      on_status=watch.on_status, elastic=True,
                      on_decision=watch.on_decision, monitor=pool)
    watch.run = run
    run.cluster.black_hole("campus", after_s=after_s, probability=1.0)
    run.start(on_start=lambda fw: setattr(pool, "fw", fw))
    return run, watch


def dc_running(run: EmulatedRun) -> int:
    return sum(1 for r in run.records()
               if r.role is Role.EXECUTOR and r.site == "dc" and r.confirmed)


def check_dc_covered(run: EmulatedRun, watch: Watch) -> None:
    run.wait(lambda: dc_running(run) == DC_WANTED, 30, f"{DC_WANTED} dc executors running")
    run.wait(lambda: watch.decisions and watch.decisions[-1].desired["dc"] == DC_WANTED
             and not watch.decisions[-1].launches["dc"], 10, "the dc jobs covered")
    assert dc_running(run) == DC_WANTED    # covered, not overshot


def test_black_hole_under_elastic_demand_with_default_backoff(tmp_path):
    """The production BackoffPolicy: the first hold (600 s) comes after at most 5 launches."""
    policy = BackoffPolicy()
    assert policy.blackhole_failures == LIMIT
    run, watch = start(tmp_path, policy, after_s=0.2)
    with run:
        run.wait(lambda: watch.holds, 60, "campus held as a black hole")
        text, launches = watch.holds[0]
        assert launches <= LIMIT, watch.holds
        assert "site campus is a black hole" in text and "no launches for 600 s" in text
        check_dc_covered(run, watch)
        # the planner still sees the campus jobs and says why it launches nothing there
        run.wait(lambda: any(r.code is Code.SITE_HELD and r.site == "campus"
                             for r in watch.decisions[-1].reasons), 10,
                 "the elastic loop saying campus is held")
        assert not any(d.launches["campus"] for d in watch.decisions[-5:])
        assert watch.campus_launches() == launches


def test_black_hole_under_elastic_demand_over_several_holds(tmp_path):
    """Short holds (doubling: 0.5, 1, 2, 4 s): the first follows at most 5 launches, each
    later one a single probe."""
    policy = BackoffPolicy(base_s=0.05, max_s=0.2, early_s=3, window_s=60, hold_s=0.5)
    run, watch = start(tmp_path, policy, after_s=0.2)
    with run:
        run.wait(lambda: any("no launches for 4 s" in t for t, _ in watch.holds), 60,
                 "the fourth hold")
        assert len(watch.holds) == 4
        assert watch.per_hold()[0] <= LIMIT and watch.per_hold()[1:] == [1, 1, 1], \
            (watch.per_hold(), watch.holds)
        check_dc_covered(run, watch)
