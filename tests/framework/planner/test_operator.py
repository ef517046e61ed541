"""The planner under the operator's controls: desired sizes, pause, drained sites and
nodes, operator drains (exact figures; helpers and spec of test_planner: dc min 1 max 5,
campus min 0 max 3, pool max 6, 4 launches a tick)."""
from __future__ import annotations

from framework.controls import Controls, SiteControl
from framework.planner import Code, Drain, PlannerState, TaskState, plan
from tests.framework.planner.test_planner import NOW, SPEC, ex, job, snap, startd

BASE = Controls.from_spec(SPEC)


def run(s, execs, controls: Controls, state: PlannerState = PlannerState(), now: float = NOW,
        held=None):
    return plan(s, execs, controls.effective_spec(SPEC), state, now, held, controls)


def details(d, code: Code) -> list[tuple[str, str]]:
    return [(r.site, r.detail) for r in d.reasons if r.code is code]


def test_without_controls_nothing_changes():
    s = snap(startd("a", idle_for=120), startd("b", idle_for=120), jobs=(job(9, "campus"),))
    execs = [ex("a"), ex("b")]
    assert run(s, execs, BASE) == plan(s, execs, SPEC, PlannerState(), NOW)


def test_desired_up_launches_whatever_the_queue_and_no_idle_executor_is_drained():
    c = BASE.with_site("dc", {"desired": 4})
    d = run(snap(startd("a", idle_for=1000)), [ex("a")], c)
    assert d.launches == {"dc": 3, "campus": 0} and d.desired == {"dc": 4, "campus": 0}
    assert not d.drain
    assert details(d, Code.DESIRED) == [("dc", "3 new executor(s): the operator wants 4 (1 now)")]
    assert d.state.last_scale_up == {"dc": NOW}


def test_desired_launches_come_first_within_the_budget_and_the_pool_max():
    c = BASE.with_site("dc", {"desired": 5})
    d = run(snap(jobs=(job(2, "campus", cpus=3),)), [], c)
    assert d.launches == {"dc": 4, "campus": 0} and d.desired == {"dc": 4, "campus": 0}
    assert details(d, Code.DESIRED) == [
        ("dc", "4 new executor(s): the operator wants 5 (0 now)"),
        ("dc", "1 more wanted for the desired 5: max_launches_per_tick or max_executors "
               "reached")]
    assert details(d, Code.LAUNCH_LIMIT) == [("campus", "2 more wanted: max_launches_per_tick "
                                                        "reached")]
    full = [ex(f"d{i}") for i in range(5)]                # 5 of the pool's 6
    d = run(snap(*(startd(f"d{i}", claims=4) for i in range(5))), full,
            BASE.with_site("campus", {"desired": 3}))
    assert d.launches == {"dc": 0, "campus": 1} and d.desired == {"dc": 5, "campus": 1}


def test_desired_is_clamped_to_the_bounds():
    c = Controls({"dc": SiteControl(1, 2, desired=9), "campus": SiteControl(0, 3)})
    d = run(snap(), [], c)
    assert d.launches == {"dc": 2, "campus": 0} and d.desired == {"dc": 2, "campus": 0}


def test_the_queue_launches_nothing_at_a_desired_site_and_its_jobs_wait():
    c = BASE.with_site("dc", {"desired": 1})
    d = run(snap(startd("a", claims=4), jobs=(job(8, "dc"), job(4))), [ex("a")], c)
    assert d.launches == {"dc": 0, "campus": 1} and d.desired == {"dc": 1, "campus": 1}
    assert details(d, Code.DESIRED) == [("dc", "3 more wanted; the operator holds dc at 1 "
                                               "executor(s)")]


def test_desired_down_drains_idle_ones_at_once_and_busy_ones_stay():
    c = BASE.with_site("dc", {"desired": 1})
    execs = [ex("a"), ex("b"), ex("c"), ex("e")]
    s = snap(startd("a", idle_for=5), startd("b", idle_for=1000), startd("c", claims=2),
             startd("e", claims=1))
    state = PlannerState(last_scale_up={"dc": NOW - 10})  # no cooldown, no idle wait
    d = run(s, execs, c, state)
    assert [x.task_id for x in d.drain] == ["b", "a"]    # the longest idle first
    assert all(not d.state.drains[t].operator for t in ("a", "b"))
    assert d.desired == {"dc": 1, "campus": 0} and d.launches == {"dc": 0, "campus": 0}
    assert details(d, Code.DESIRED) == [
        ("dc", "slot1@b idle: the operator wants 1 (4 now): draining"),
        ("dc", "slot1@a idle: the operator wants 1 (4 now): draining"),
        ("dc", "1 busy executor(s) above the desired 1 stay until their jobs end")]
    # next tick: a and b drained; nothing more to drain while c and e run their jobs
    s = snap(startd("a", draining=True), startd("b", draining=True), startd("c", claims=2),
             startd("e", claims=1))
    d = run(s, execs, c, d.state)
    assert sorted(d.kill) == ["a", "b"] and not d.drain and d.desired["dc"] == 1
    assert details(d, Code.DESIRED) == [("dc", "1 busy executor(s) above the desired 1 stay "
                                               "until their jobs end")]


def test_paused_keeps_idle_executors_launches_for_no_job_but_keeps_the_minimum():
    c = BASE.with_paused(True)
    d = run(snap(jobs=(job(8, "dc"), job(3))), [], c)
    assert d.launches == {"dc": 0, "campus": 0}
    assert d.desired == {"dc": 1, "campus": 0}            # dc's min is still launched
    assert details(d, Code.PAUSED) == [("dc", "3 more wanted; autoscaling is paused")]
    s = snap(startd("a", idle_for=1000), startd("b", idle_for=1000),
             startd("c", "campus", idle_for=1000))
    d = run(s, [ex("a"), ex("b"), ex("c", "campus")], c)
    assert not d.drain
    assert details(d, Code.PAUSED) == [("campus", "1 idle executor(s) kept: autoscaling is "
                                                  "paused"),
                                       ("dc", "2 idle executor(s) kept: autoscaling is paused")]


def test_paused_lets_drains_in_progress_and_desired_sizes_go_on():
    c = BASE.with_paused(True).with_site("campus", {"desired": 2})
    state = PlannerState(drains={"b": Drain("b", "slot1@b", NOW - 20, "r1")})
    d = run(snap(startd("a"), startd("b", draining=True)), [ex("a"), ex("b")], c, state)
    assert d.kill == ("b",) and d.launches == {"dc": 0, "campus": 2}
    assert d.desired == {"dc": 1, "campus": 2}


def test_a_drained_site_launches_nothing_and_drains_everything_busy_ones_until_their_jobs_end():
    c = BASE.with_drained("campus", True)
    execs = [ex("k1", "campus"), ex("k2", "campus"), ex("k3", "campus", TaskState.STARTING)]
    s = snap(startd("k1", "campus", idle_for=0), startd("k2", "campus", claims=1),
             jobs=(job(6, "campus"),))
    d = run(s, execs, c)
    assert [x.task_id for x in d.drain] == ["k1", "k2"]
    assert all(d.state.drains[t].operator for t in ("k1", "k2"))
    assert d.launches == {"dc": 0, "campus": 0} and d.desired == {"dc": 1, "campus": 0}
    assert details(d, Code.SITE_DRAINED) == [("campus", "2 more wanted; the operator drained "
                                                        "the site")]
    assert details(d, Code.OPERATOR_DRAIN) == [
        ("campus", "slot1@k1: the operator drained site campus: draining (running jobs "
                   "finish), then removed"),
        ("campus", "slot1@k2: the operator drained site campus: draining (running jobs "
                   "finish), then removed"),
        ("campus", "1 executor(s) to drain wait: no startd ad yet")]
    # k1 drained at once; k2 runs its job on (not cancelled, not killed); k3 shows up
    execs[2] = ex("k3", "campus")
    s = snap(startd("k1", "campus", draining=True), startd("k2", "campus", claims=1,
                                                           draining=True),
             startd("k3", "campus"), jobs=(job(6, "campus"),))
    d = run(s, execs, c, d.state)
    assert d.kill == ("k1",) and not d.cancel and [x.task_id for x in d.drain] == ["k3"]
    assert set(d.state.drains) == {"k2", "k3"}
    assert ("campus", "slot1@k2: drained by the operator, 1 job(s) still running") in \
        details(d, Code.OPERATOR_DRAIN)
    # the job ended: k2 is removed
    s = snap(startd("k2", "campus", draining=True), startd("k3", "campus", draining=True))
    d = run(s, execs[1:], c, d.state)
    assert sorted(d.kill) == ["k2", "k3"] and d.desired == {"dc": 1, "campus": 0}


def test_a_node_drain_is_never_cancelled_by_a_claim_and_the_minimum_is_replaced():
    c = BASE.with_node_drain("a")
    d = run(snap(startd("a", idle_for=0)), [ex("a")], c)
    assert [x.task_id for x in d.drain] == ["a"] and d.state.drains["a"].operator
    assert d.desired == {"dc": 2, "campus": 0}           # dc's min: a replacement at once
    # a claim raced the drain: kept, the job finishes
    d = run(snap(startd("a", claims=1, draining=True)), [ex("a")], c, d.state)
    assert not d.cancel and not d.kill and "a" in d.state.drains
    assert d.desired == {"dc": 2, "campus": 0}
    d = run(snap(startd("a", draining=True)), [ex("a")], c, d.state)
    assert d.kill == ("a",) and d.desired == {"dc": 1, "campus": 0}   # dc's min


def test_an_ordinary_drain_under_a_claim_is_still_cancelled():
    state = PlannerState(drains={"a": Drain("a", "slot1@a", NOW - 5)})
    d = run(snap(startd("a", claims=1, draining=True), startd("b")), [ex("a"), ex("b")],
            BASE, state)
    assert [x.task_id for x in d.cancel] == ["a"] and Code.CLAIM_DURING_DRAIN in d.codes()


def test_undraining_a_site_cancels_its_operator_drains_not_the_node_drains():
    state = PlannerState(drains={
        "k1": Drain("k1", "slot1@k1", NOW - 5, "r1", operator=True),
        "k2": Drain("k2", "slot1@k2", NOW - 5, "r2", operator=True)})
    c = BASE.with_node_drain("k2")
    s = snap(startd("k1", "campus", claims=1, draining=True),
             startd("k2", "campus", claims=1, draining=True))
    d = run(s, [ex("k1", "campus"), ex("k2", "campus")], c, state)
    assert [x.task_id for x in d.cancel] == ["k1"] and set(d.state.drains) == {"k2"}
    assert ("campus", "slot1@k1: the operator undrained campus: drain cancelled") in \
        details(d, Code.OPERATOR_DRAIN)


def test_operator_drains_and_desired_launches_wait_for_a_fresh_snapshot_or_an_unheld_site():
    c = BASE.with_node_drain("a").with_site("campus", {"desired": 2})
    d = run(snap(startd("a"), fresh=False), [ex("a")], c)
    assert not d.drain and d.launches == {"dc": 0, "campus": 0}
    assert ("dc", "1 executor(s) to drain wait: the snapshot is stale") in \
        details(d, Code.OPERATOR_DRAIN)
    assert ("campus", "2 more wanted for the desired 2: the snapshot is stale") in \
        details(d, Code.DESIRED)
    d = run(snap(startd("a", claims=1)), [ex("a")], c, held={"campus": "black hole"})
    assert d.launches == {"dc": 0, "campus": 0}
    assert ("campus", "2 more wanted for the desired 2: no launches there now: black hole") in \
        details(d, Code.DESIRED)


# -- review fixes -------------------------------------------------------------------------

def test_a_drain_whose_task_the_backend_no_longer_lists_is_not_killed_and_is_then_forgotten():
    """The task ended by itself (agent lost, task failed) while its startd's ad lingers in
    the collector, draining with no claim: nothing to kill (the tick used to raise), and
    the drain is forgotten once the ad is gone too."""
    state = PlannerState(drains={"gone": Drain("gone", "slot1@gone", NOW - 30, "r1",
                                               operator=True),
                                 "k": Drain("k", "slot1@k", NOW - 30, "r2")})
    execs = [ex("a"), ex("k", state=TaskState.KILLING)]
    s = snap(startd("gone", draining=True), startd("k", draining=True), startd("a", claims=1))
    for controls in (BASE, None):
        d = plan(s, execs, SPEC, state, NOW, None, controls)
        assert d.kill == () and not d.cancel
        assert set(d.state.drains) == {"gone"}              # k is being ended: forgotten
        assert ("dc", "slot1@gone: its task gone is not listed by the backend (ended or "
                      "unreachable): not killed") in details(d, Code.AD_MISSING)
    d = run(snap(startd("a", claims=1)), execs, BASE, d.state)
    assert d.state.drains == {} and Code.AD_MISSING not in d.codes()
    d = run(snap(startd("a", claims=1), fresh=False), execs, BASE, state)
    assert "gone" in d.state.drains                          # a stale snapshot proves nothing


def test_a_desired_size_never_takes_the_site_below_its_minimum():
    c = BASE.with_site("dc", {"min": 2, "desired": 3})
    d = run(snap(fresh=False), [], c)                        # no launch for the desired size
    assert d.launches == {"dc": 0, "campus": 0} and d.desired == {"dc": 2, "campus": 0}
    d = run(snap(), [], c, held={"dc": "black hole"})
    assert d.desired == {"dc": 2, "campus": 0}
    d = run(snap(), [], c)
    assert d.launches == {"dc": 3, "campus": 0} and d.desired == {"dc": 3, "campus": 0}


def test_a_node_drain_at_the_minimum_gets_a_replacement_at_once_within_the_max():
    c = BASE.with_node_drain("a")
    d = run(snap(startd("a", claims=1)), [ex("a")], c)       # dc: min 1, max 5
    assert [x.task_id for x in d.drain] == ["a"] and d.desired == {"dc": 2, "campus": 0}
    assert ("dc", "1 new executor(s) in place of the 1 the operator drains: the site keeps "
                  "its minimum of 1") in details(d, Code.OPERATOR_DRAIN)
    # the replacement b runs; a's job still runs: nothing more is launched
    d = run(snap(startd("a", claims=1, draining=True), startd("b")), [ex("a"), ex("b")], c,
            d.state)
    assert d.desired == {"dc": 2, "campus": 0} and not d.kill and not d.drain
    # a site at its max keeps its max: the replacement comes once the drained one is gone
    tight = Controls({"dc": SiteControl(1, 1), "campus": SiteControl(0, 3)}).with_node_drain("a")
    d = run(snap(startd("a", claims=1)), [ex("a")], tight)
    assert d.desired == {"dc": 1, "campus": 0}
    assert ("dc", "no executor in place of the 1 the operator drains: the site is at its "
                  "executors.max; one comes once it is removed") in details(d, Code.OPERATOR_DRAIN)


def test_a_desired_size_does_not_count_the_executors_the_operator_drains():
    c = BASE.with_site("dc", {"desired": 2}).with_node_drain("a")
    d = run(snap(startd("a", claims=1), startd("b", claims=1)), [ex("a"), ex("b")], c)
    assert d.launches == {"dc": 1, "campus": 0} and d.desired == {"dc": 3, "campus": 0}
    assert ("dc", "1 new executor(s): the operator wants 2 (1 now)") in details(d, Code.DESIRED)


def test_a_node_drain_waiting_for_its_ad_counts_as_leaving_for_a_desired_size():
    c = BASE.with_site("dc", {"desired": 2}).with_node_drain("s")
    execs = [ex("a"), ex("b"), ex("s", state=TaskState.STARTING)]
    d = run(snap(startd("a", idle_for=500), startd("b", idle_for=500)), execs, c)
    assert not d.drain and d.launches == {"dc": 0, "campus": 0}   # a and b are the 2 wanted
    assert d.desired == {"dc": 3, "campus": 0}
