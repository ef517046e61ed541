"""The planner as a matrix of situations: what it does, and why it does not."""
from __future__ import annotations

import pytest

from framework.monitor.snapshot import JobShape, PoolSnapshot, StartdInfo
from framework.planner import Code, Drain, Executor, PlannerState, TaskState, plan
from framework.spec import parse_spec

SPEC_TEXT = """
pool: {name: p, trust_domain: p.example, signing_key_file: k}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 1, max: 5}}
  - {name: campus, private: true, calico: {network: n2, cidr: 10.2.0.0/16},
     executors: {min: 0, max: 3}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 4, mem: 8192}
autoscaling: {min_executors: 1, max_executors: 6, max_launches_per_tick: 4,
              idle_before_scale_in: 60, scale_up_cooldown: 30, scale_down_cooldown: 100}
backend: {type: sim}
"""
SPEC = parse_spec(SPEC_TEXT)
NOW = 1000.0


def startd(task: str, site: str = "dc", claims: int = 0, free: float | None = None,
           draining: bool = False, idle_for: float | None = 0.0) -> StartdInfo:
    cpus_free = (4.0 - claims) if free is None else free
    return StartdInfo(f"slot1@{task}", task, site, 4.0, 8192.0, cpus_free,
                      8192.0 - 1024 * claims, claims, draining, NOW,
                      idle_since=(NOW - idle_for) if claims == 0 and idle_for is not None
                      else None)


def snap(*startds: StartdInfo, jobs: tuple = (), fresh: bool = True) -> PoolSnapshot:
    return PoolSnapshot(NOW, fresh, tuple(startds), tuple(jobs), {},
                        None if fresh else "collector unreachable", NOW)


def ex(task: str, site: str = "dc", state: TaskState = TaskState.RUNNING) -> Executor:
    return Executor(task, site, state, NOW - 300)


def job(count: int, site: str | None = None, cpus: float = 1, mem: float = 1024) -> JobShape:
    return JobShape(cpus, mem, site, count)


# -- scale out ----------------------------------------------------------------------------

def test_idle_jobs_are_packed_onto_new_executors_at_their_site():
    d = plan(snap(jobs=(job(10, "dc"), job(2, "campus", cpus=3))), [], SPEC, PlannerState(), NOW)
    # 10 × 1 core in 4-core slots: 3 at dc; 2 × 3 cores: 2 at campus, but 4 launches a tick
    assert d.launches == {"dc": 3, "campus": 1}
    assert d.desired == {"dc": 3, "campus": 1}
    assert d.codes() == {Code.SCALE_UP, Code.LAUNCH_LIMIT}
    assert d.state.last_scale_up == {"dc": NOW, "campus": NOW}
    d = plan(snap(jobs=(job(2, "campus", cpus=3),)), [], SPEC, PlannerState(), NOW)
    assert d.launches == {"dc": 0, "campus": 2}


def test_unpinned_jobs_go_to_the_first_site_with_room():
    d = plan(snap(jobs=(job(24),)), [], SPEC, PlannerState(), NOW)
    # 24 jobs want 6 executors: dc holds 5 but the pool 6 and 4 launches per tick
    assert d.launches == {"dc": 4, "campus": 0}
    assert Code.LAUNCH_LIMIT in d.codes()


def test_free_and_starting_capacity_is_used_before_launching():
    d = plan(snap(startd("a", claims=1), jobs=(job(3, "dc"),)), [ex("a")], SPEC,
             PlannerState(), NOW)
    assert d.launches == {"dc": 0, "campus": 0} and Code.COVERED in d.codes()
    starting = [ex("a"), ex("b", state=TaskState.STARTING)]      # b has no ad yet
    d = plan(snap(startd("a", claims=4), jobs=(job(4, "dc"),)), starting, SPEC,
             PlannerState(), NOW)
    assert d.launches["dc"] == 0                          # b's whole slot is counted


def test_limits_and_their_reasons():
    d = plan(snap(jobs=(job(40, "campus"),)), [], SPEC, PlannerState(), NOW)
    assert d.launches["campus"] == 3 and Code.SITE_MAX in d.codes()
    full = [ex(f"d{i}") for i in range(5)] + [ex("c0", "campus")]
    d = plan(snap(*(startd(f"d{i}", claims=4) for i in range(5)), startd("c0", "campus", 4),
                  jobs=(job(8, "campus"),)), full, SPEC, PlannerState(), NOW)
    assert d.launches["campus"] == 0 and Code.POOL_MAX in d.codes()
    d = plan(snap(jobs=(job(1, cpus=8), job(2, "mars"))), [], SPEC, PlannerState(), NOW)
    assert sum(d.launches.values()) == 0
    assert {Code.JOB_TOO_BIG, Code.UNKNOWN_SITE} <= d.codes()


def test_cooldown_holds_a_second_scale_up_while_the_first_is_starting():
    state = PlannerState(last_scale_up={"dc": NOW - 10})
    starting = [ex("b", state=TaskState.STARTING)]
    d = plan(snap(jobs=(job(8, "dc"),)), starting, SPEC, state, NOW)
    assert d.launches["dc"] == 0 and Code.COOLDOWN in d.codes()
    d = plan(snap(jobs=(job(8, "dc"),)), starting, SPEC, state, NOW + 19)   # still cooling
    assert d.launches["dc"] == 0
    d = plan(snap(jobs=(job(8, "dc"),)), starting, SPEC, state, NOW + 20)
    assert d.launches["dc"] == 1                          # 8 jobs: b's slot + 1 new


# -- scale in -----------------------------------------------------------------------------

def test_an_executor_idle_long_enough_is_drained_but_the_minimum_stays():
    execs = [ex("a"), ex("b"), ex("c", "campus")]
    s = snap(startd("a", idle_for=61), startd("b", idle_for=70), startd("c", "campus", idle_for=90))
    d = plan(s, execs, SPEC, PlannerState(), NOW)
    assert {x.task_id for x in d.drain} == {"b", "c"}     # a kept: dc's min is 1
    assert Code.MINIMUM in d.codes() and not d.kill
    assert set(d.state.drains) == {"b", "c"}
    assert d.desired == {"dc": 2, "campus": 1}            # removed only once drained


@pytest.mark.parametrize("situation, code", [
    ("stale", Code.STALE),
    ("too short", None),
    ("demand", Code.DEMAND_AT_SITE),
    ("grew", Code.SCALE_DOWN_COOLDOWN),
])
def test_when_an_idle_executor_is_kept(situation, code):
    execs = [ex("a"), ex("b")]
    idle_for = 30 if situation == "too short" else 120
    jobs = (job(1, "dc"),) if situation == "demand" else ()
    state = PlannerState(last_scale_up={"dc": NOW - 50}) if situation == "grew" else PlannerState()
    s = snap(startd("a", claims=1), startd("b", idle_for=idle_for), jobs=jobs,
             fresh=situation != "stale")
    d = plan(s, execs, SPEC, state, NOW)
    assert not d.drain
    assert code is None or code in d.codes(), d.reasons


def test_a_busy_executor_is_never_drained():
    d = plan(snap(startd("a", claims=2), startd("b", claims=1)), [ex("a"), ex("b")], SPEC,
             PlannerState(), NOW)
    assert not d.drain and not d.kill


# -- after the drain ------------------------------------------------------------------------

def drains(*tasks: str) -> PlannerState:
    return PlannerState(drains={t: Drain(t, f"slot1@{t}", NOW - 20, "r1") for t in tasks})


def test_drained_without_claim_is_killed_and_no_longer_wanted():
    execs = [ex("a"), ex("b")]
    d = plan(snap(startd("a", claims=1), startd("b", draining=True)), execs, SPEC,
             drains("b"), NOW)
    assert d.kill == ("b",) and d.desired["dc"] == 1 and Code.DRAINED in d.codes()
    assert "b" not in d.state.drains


@pytest.mark.parametrize("ad, fresh, code", [
    ("missing", True, Code.AD_MISSING),               # no fresh ad: never kill
    ("drained", False, Code.AD_MISSING),              # stale snapshot: never kill
])
def test_no_kill_without_a_fresh_ad_showing_no_claim(ad, fresh, code):
    ads = {"missing": (), "drained": (startd("b", draining=True),)}[ad]
    d = plan(snap(startd("a"), *ads, fresh=fresh), [ex("a"), ex("b")], SPEC, drains("b"), NOW)
    assert not d.kill and code in d.codes()
    assert "b" in d.state.drains


@pytest.mark.parametrize("draining", [True, False])
def test_a_claim_that_arrives_during_the_drain_cancels_the_removal(draining):
    """Only idle startds are drained, so a claim under a drain raced it: the job runs on
    (HTCondor's graceful drain) and the executor stays, drain cancelled."""
    d = plan(snap(startd("a"), startd("b", claims=1, draining=draining)), [ex("a"), ex("b")],
             SPEC, drains("b"), NOW)
    assert not d.kill and [c.task_id for c in d.cancel] == ["b"]
    assert Code.CLAIM_DURING_DRAIN in d.codes() and "b" not in d.state.drains
    assert d.desired["dc"] == 2


def test_killing_executors_do_not_count():
    d = plan(snap(jobs=(job(4, "dc"),)), [ex("a", state=TaskState.KILLING)], SPEC,
             PlannerState(), NOW)
    assert d.launches["dc"] == 1 and d.desired["dc"] == 1


def test_a_held_site_spends_no_launch_budget_and_its_unpinned_jobs_go_elsewhere():
    jobs = (job(20, "dc"), job(8))                # dc first in spec order; 8 jobs anywhere
    free = plan(snap(jobs=jobs), [], SPEC, PlannerState(), NOW)
    assert free.launches == {"dc": 4, "campus": 0}    # dc took the whole budget of 4
    held = plan(snap(jobs=jobs), [], SPEC, PlannerState(), NOW,
                {"dc": "site dc is a black hole: 5 tasks died"})
    assert held.launches == {"dc": 0, "campus": 2}    # the 8 unpinned jobs: 2 at campus
    why = [r for r in held.reasons if r.code is Code.SITE_HELD]
    assert [r.site for r in why] == ["dc"] and "black hole" in why[0].detail
