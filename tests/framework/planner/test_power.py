"""The planner when CLUES drives: power requests on virtual nodes, never a running job."""
from __future__ import annotations

import pytest

from framework.clues.nodes import NodeError, NodeTable
from framework.monitor.snapshot import JobShape
from framework.planner import Code, Drain, PlannerState, TaskState
from framework.planner.power import POWER_ON_WAIT_S, PowerRequest, plan_power
from framework.spec import parse_spec
from tests.framework.planner.test_planner import NOW, SPEC_TEXT, ex, snap, startd

# the planner tests' pool, with 12 nodes at dc and CLUES in charge
SPEC = parse_spec(SPEC_TEXT.replace("executors: {min: 1, max: 5}", "executors: {min: 1, max: 12}")
                  .replace("autoscaling: {", "autoscaling: {driver: clues, "))


def on(node: str, at: float = NOW) -> PowerRequest:
    return PowerRequest(node, True, at)


def off(node: str, at: float = NOW) -> PowerRequest:
    return PowerRequest(node, False, at)


def test_power_on_launches_one_executor_and_binds_the_node_to_it():
    dc = ex("t-dc")                                   # the site minimum, bound first
    d, table = plan_power(snap(startd("t-dc")), [dc], SPEC, PlannerState(), NodeTable(),
                          [on("campus-2"), on("campus-2")], NOW)
    assert d.desired == {"dc": 1, "campus": 1} and d.launches == {"dc": 0, "campus": 1}
    assert [r.code for r in d.reasons] == [Code.POWER_ON]
    assert table.bound == {"t-dc": "dc-01"} and table.pending_on == {"campus-2": NOW}
    # the next tick: the new task at campus takes campus-2, not the lowest free campus-1
    new = ex("t-c", "campus", TaskState.STARTING)
    d, table = plan_power(snap(startd("t-dc")), [dc, new], SPEC, d.state, table, [], NOW + 5)
    assert table.bound == {"t-dc": "dc-01", "t-c": "campus-2"} and table.pending_on == {}
    assert d.desired == {"dc": 1, "campus": 1} and d.launches == {"dc": 0, "campus": 0}
    # an executor the site minimum brings takes the lowest free node
    d, table = plan_power(snap(), [dc, new, ex("t-dc2")], SPEC, d.state, table, [], NOW + 6)
    assert table.bound["t-dc2"] == "dc-02"


def test_power_off_drains_then_removes_only_when_a_fresh_ad_shows_no_claim():
    execs = [ex("t1"), ex("t2")]
    table = NodeTable({"t1": "dc-01", "t2": "dc-02"})
    d, table = plan_power(snap(startd("t1"), startd("t2")), execs, SPEC, PlannerState(), table,
                          [off("dc-02")], NOW)
    assert [s.task_id for s in d.drain] == ["t2"] and d.kill == ()
    assert d.codes() == {Code.POWER_OFF} and table.pending_off == {"dc-02": NOW}
    # stale data: wait, whatever the ad said last
    d2, t2 = plan_power(snap(startd("t2", draining=True), fresh=False), execs, SPEC, d.state,
                        table, [], NOW + 10)
    assert d2.kill == () and d2.drain == () and Code.STALE in d2.codes()
    # fresh: draining, no claim: removed, and the site's desired count drops
    d3, t3 = plan_power(snap(startd("t1"), startd("t2", draining=True)), execs, SPEC, d.state,
                        table, [], NOW + 20)
    assert d3.kill == ("t2",) and d3.desired == {"dc": 1, "campus": 0}
    # the power-off stands until the task is gone (a kill can fail): no second drain
    d4, t4 = plan_power(snap(startd("t1"), startd("t2", draining=True)),
                        [ex("t1"), ex("t2", state=TaskState.KILLING)], SPEC, d3.state, t3, [],
                        NOW + 25)
    assert d4.drain == () and d4.kill == () and t4.pending_off == {"dc-02": NOW}
    d5, t5 = plan_power(snap(startd("t1")), [ex("t1")], SPEC, d4.state, t4, [], NOW + 30)
    assert t5.pending_off == {} and t5.bound == {"t1": "dc-01"}


def test_power_off_of_a_node_running_jobs_keeps_it():
    table = NodeTable({"t1": "dc-01", "t2": "dc-02"})
    d, table = plan_power(snap(startd("t1"), startd("t2", claims=2)), [ex("t1"), ex("t2")],
                          SPEC, PlannerState(), table, [off("dc-02")], NOW)
    assert d.drain == () and d.kill == () and d.codes() == {Code.NODE_USED}
    assert table.pending_off == {} and table.bound["t2"] == "dc-02"


def test_a_claim_during_the_drain_cancels_power_off_and_keeps_the_node():
    table = NodeTable({"t1": "dc-01", "t2": "dc-02"}, pending_off={"dc-02": NOW})
    state = PlannerState(drains={"t2": Drain("t2", "slot1@t2", NOW)})
    d, table = plan_power(snap(startd("t1"), startd("t2", claims=1, draining=True)),
                          [ex("t1"), ex("t2")], SPEC, state, table, [], NOW + 5)
    assert d.kill == () and [c.task_id for c in d.cancel] == ["t2"]
    assert Code.CLAIM_DURING_DRAIN in d.codes()
    assert table.pending_off == {} and table.bound["t2"] == "dc-02"


def test_power_off_of_a_starting_executor_waits_for_its_startd():
    table = NodeTable({"t1": "campus-1"})
    starting = [ex("t1", "campus", TaskState.STARTING)]
    d, table = plan_power(snap(), starting, SPEC, PlannerState(), table, [off("campus-1")], NOW)
    assert d.drain == () and d.kill == () and Code.AD_MISSING in d.codes()
    d, table = plan_power(snap(startd("t1", "campus")), starting, SPEC, d.state, table, [],
                          NOW + 5)
    assert [s.task_id for s in d.drain] == ["t1"]


def test_power_off_withdraws_a_waiting_power_on_and_requests_on_off_nodes_say_so():
    d, table = plan_power(snap(), [], SPEC, PlannerState(), NodeTable(),
                          [on("campus-3"), off("campus-3"), off("campus-1")], NOW)
    assert table.pending_on == {} and d.launches == {"dc": 1, "campus": 0}   # dc: its min
    assert [(r.code, r.detail.split(":")[0]) for r in d.reasons] == [
        (Code.POWER_ON, "campus-3"), (Code.POWER_OFF, "campus-3"), (Code.ALREADY, "campus-1")]
    d, table = plan_power(snap(startd("t1")), [ex("t1")], SPEC, d.state, table,
                          [on("dc-01")], NOW)
    assert d.codes() == {Code.ALREADY} and d.launches == {"dc": 0, "campus": 0}


def test_a_power_on_that_gets_no_executor_lapses_after_clues_wait():
    d, table = plan_power(snap(), [ex("t1")], SPEC, PlannerState(), NodeTable(),
                          [on("campus-1")], NOW)
    d, table = plan_power(snap(), [ex("t1")], SPEC, d.state, table, [],
                          NOW + POWER_ON_WAIT_S - 1)
    assert d.desired["campus"] == 1
    d, table = plan_power(snap(), [ex("t1")], SPEC, d.state, table, [], NOW + POWER_ON_WAIT_S)
    assert d.desired["campus"] == 0 and Code.POWER_ON_EXPIRED in d.codes()


def test_the_planner_never_scales_on_its_own_when_clues_drives():
    jobs = (JobShape(1, 1024, "campus", 20),)
    d, _ = plan_power(snap(startd("t1"), jobs=jobs), [ex("t1")], SPEC, PlannerState(),
                      NodeTable(), [], NOW)
    assert d.launches == {"dc": 0, "campus": 0} and d.drain == () and d.reasons == ()


def test_unknown_nodes_are_refused_naming_the_pool_s_nodes():
    with pytest.raises(NodeError, match=r"'campus-4' is not a node of pool p: its nodes are "
                                         r"dc-01 … dc-12, campus-1 … campus-3"):
        plan_power(snap(), [], SPEC, PlannerState(), NodeTable(), [on("campus-4")], NOW)


def test_power_on_during_a_power_off_cancels_the_drain_and_keeps_the_executor():
    table = NodeTable({"t1": "dc-01", "t2": "dc-02"})
    execs = [ex("t1"), ex("t2")]
    d, table = plan_power(snap(startd("t1"), startd("t2")), execs, SPEC, PlannerState(), table,
                          [off("dc-02")], NOW)
    assert [s.task_id for s in d.drain] == ["t2"]
    d, table = plan_power(snap(startd("t1"), startd("t2", draining=True)), execs, SPEC, d.state,
                          table, [on("dc-02")], NOW + 5)
    assert d.kill == () and [c.task_id for c in d.cancel] == ["t2"]
    assert d.state.drains == {} and table.pending_off == {} and table.bound["t2"] == "dc-02"


def test_power_on_of_a_node_being_killed_gets_a_new_executor_with_that_name():
    table = NodeTable({"t1": "dc-01", "t2": "dc-02"})
    execs = [ex("t1"), ex("t2", state=TaskState.KILLING)]
    d, table = plan_power(snap(startd("t1")), execs, SPEC, PlannerState(), table,
                          [on("dc-02")], NOW)
    assert d.codes() == {Code.POWER_ON} and d.launches == {"dc": 1, "campus": 0}
    new = ex("t3", state=TaskState.STARTING)
    d, table = plan_power(snap(startd("t1")), execs + [new], SPEC, d.state, table, [], NOW + 5)
    assert table.bound == {"t1": "dc-01", "t3": "dc-02"} and d.launches["dc"] == 0


def test_power_off_at_the_site_minimum_is_refused():
    table = NodeTable({"t1": "dc-01"})
    d, table = plan_power(snap(startd("t1")), [ex("t1")], SPEC, PlannerState(), table,
                          [off("dc-01")], NOW)
    assert d.drain == () and d.codes() == {Code.MINIMUM} and table.pending_off == {}
