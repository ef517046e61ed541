"""The elastic loop's operator methods and status log on the simulated pool: validated
requests change the next ticks, rejected ones change nothing; every tick is recorded."""
from __future__ import annotations

import copy
import dataclasses
import logging

import pytest

from framework.controls import (Controls, InvalidControl, NotOperable, SiteControl, UnknownNode,
                                UnknownSite)
from framework.controlstore import ControlsNotSaved, ControlStore
from framework.elastic import ElasticLoop
from framework.monitor import PoolMonitor, PoolSnapshot, StartdInfo
from framework.planner import Code
from framework.sim.pool.model import Job, Timings
from framework.sim.pool.pool import SimPool
from framework.statuslog import StatusLog
from framework.spec import parse_spec

SPEC_TEXT = """
pool: {name: p, trust_domain: p.example, signing_key_file: k}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 1, max: 4}}
  - {name: campus, private: true, calico: {network: n2, cidr: 10.2.0.0/16},
     executors: {min: 0, max: 3}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 2, mem: 4096}
autoscaling: {driver: %s, min_executors: 0, max_executors: 6, max_launches_per_tick: 4,
              idle_before_scale_in: 10, scale_up_cooldown: 0, scale_down_cooldown: 0}
backend: {type: sim}
"""
SPEC = parse_spec(SPEC_TEXT % "htcmesos")
WHO = "ops@127.0.0.1"


class OperatorSimPool(SimPool):
    """The simulated pool with the operator's drain: a busy executor drains too (no new
    match; its jobs run to their end, as under a long retirement)."""

    def operator_drain(self, startd: StartdInfo) -> str:
        ex = self.nodes[startd.task_id]
        ex.draining = True
        return f"op-{startd.task_id}"


def make(jobs: list[Job], spec=SPEC) -> tuple[ElasticLoop, OperatorSimPool]:
    pool = OperatorSimPool(["dc", "campus"], (2.0, 4096.0), jobs,
                           Timings(boot_s=5.0, claim_s=1.0, negotiation_s=2.0))
    return ElasticLoop(spec, pool, pool, pool, wall=lambda: 1_700_000_000.0 + pool.now), pool


def run(loop: ElasticLoop, start: float, end: float, step: float = 5.0) -> None:
    t = start
    while t <= end:
        loop.tick(t)
        t += step


def test_requests_are_validated_and_a_rejected_one_changes_nothing():
    loop, _ = make([])
    before = loop.controls
    with pytest.raises(UnknownSite, match="no site 'moon' in this pool"):
        loop.set_site("moon", {"min": 1}, WHO)
    with pytest.raises(InvalidControl, match="^min 5 is above max 4 at site dc$"):
        loop.set_site("dc", {"min": 5}, WHO)
    with pytest.raises(UnknownSite):
        loop.drain_site("moon", WHO)
    with pytest.raises(UnknownNode, match="no live executor 'slot1@x' in pool p"):
        loop.drain_node("slot1@x", WHO)          # before the first tick: no executor is live
    assert loop.controls is before and loop.status.actions() == []
    assert loop.status.totals().operator == {} and loop.status.latest() is None


def test_each_accepted_request_is_logged_recorded_and_answered(caplog):
    loop, pool = make([])
    pool.now = 12.0
    with caplog.at_level(logging.INFO, logger="htcmesos.audit"):
        assert loop.set_site("dc", {"max": 3, "desired": 2}, WHO) == \
            {"site": "dc", "min": 1, "max": 3, "desired": 2, "drained": False}
        assert loop.set_site("dc", {"desired": None}, WHO)["desired"] is None
        assert loop.drain_site("campus", WHO)["drained"] is True
        assert loop.undrain_site("campus", WHO) == {
            "site": "campus", "drained": False,
            "message": "site campus is back with the autoscaler"}
        assert loop.pause(WHO) == {"paused": True} and loop.controls.paused
        assert loop.resume("token@10.0.0.9") == {"paused": False}
    said = [r.getMessage() for r in caplog.records]
    assert said == ["operator ops@127.0.0.1: set site dc max=3, desired=2",
                    "operator ops@127.0.0.1: set site dc desired=null",
                    "operator ops@127.0.0.1: drain site campus",
                    "operator ops@127.0.0.1: undrain site campus",
                    "operator ops@127.0.0.1: pause autoscaling",
                    "operator token@10.0.0.9: resume autoscaling"]
    actions = loop.status.actions()
    assert [(a.action, a.who) for a in actions[:2]] == [("resume", "token@10.0.0.9"),
                                                        ("pause", WHO)]
    assert actions[0].wall == 1_700_000_012.0 and actions[0].what == "resume autoscaling"
    assert loop.status.totals().operator == {"set_site": 2, "drain_site": 1,
                                             "undrain_site": 1, "pause": 1, "resume": 1}
    assert loop.controls.site("dc") == SiteControl(1, 3) and not loop.controls.paused


def test_ticks_are_recorded_and_a_desired_size_is_kept():
    loop, pool = make([])
    loop.tick(0.0)
    first = loop.status.latest()
    assert first.site("dc").wanted == 1 and first.site("dc").starting == 1
    assert first.launches == {"dc": 1} and first.actions == ("launch dc+1",)
    assert first.wall == 1_700_000_000.0 and first.duration_s >= 0.0 and first.notable
    loop.set_site("campus", {"desired": 2}, WHO)
    run(loop, 5.0, 15.0)
    status = loop.status.latest()
    campus = status.site("campus")
    assert (campus.wanted, campus.running, campus.idle, campus.desired) == (2, 2, 2, 2)
    assert [str(r) for r in status.reasons] == [
        "MINIMUM dc: slot1@sim.executor.dc.000001 kept: at the minimum"]
    assert status.launches == {} and not status.notable      # as at 10 s, nothing done
    assert [t.at for t in loop.status.history()] == [0.0, 5.0, 10.0, 15.0]
    assert [t.at for t in loop.status.decisions()] == [10.0, 5.0, 0.0]
    assert loop.status.totals().launches == {"dc": 1, "campus": 2}
    # idle for 20 s and more: with desired set, the queue drains none of them
    run(loop, 20.0, 30.0)
    assert loop.status.latest().site("campus").running == 2
    loop.set_site("campus", {"desired": None}, WHO)          # back to the queue: drained
    run(loop, 35.0, 45.0)
    assert loop.status.latest().site("campus").running == 0
    assert loop.status.totals().drains == {"campus": 2}
    assert loop.status.totals().removals == {"campus": 2}


def test_a_drained_node_runs_its_job_to_the_end_then_goes():
    loop, pool = make([Job(1, 0.0, 40.0, cpus=1.0, memory=512.0, site="dc")])
    run(loop, 0.0, 10.0)
    (task,) = [e.task_id for e in pool.executors()]
    assert pool.jobs[1].start == 7.0                          # booted at 5, matched at 6
    answer = loop.drain_node(f"slot1@{task}", WHO)
    assert answer["task_id"] == task and answer["node"] == f"slot1@{task}"
    assert loop.controls.node_drains == {task}
    run(loop, 15.0, 45.0)
    assert task in pool.nodes and pool.nodes[task].draining   # its job runs on
    at15 = loop.status.history()[-7]
    assert at15.at == 15.0 and at15.launches == {"dc": 1}    # dc's min: a new one at once
    assert (Code.OPERATOR_DRAIN, "dc", "1 new executor(s) in place of the 1 the operator "
                                       "drains: the site keeps its minimum of 1") in \
        {(r.code, r.site, r.detail) for r in at15.reasons}
    assert loop.status.latest().site("dc").running == 2
    assert pool.jobs[1].end is None and pool.jobs[1].killed == 0
    reasons = {(r.code, r.detail) for r in loop.status.latest().reasons}
    assert (Code.OPERATOR_DRAIN, f"slot1@{task}: drained by the operator, 1 job(s) still "
                                 f"running") in reasons
    run(loop, 50.0, 50.0)                                     # the job ended at 47
    assert pool.jobs[1].end == 47.0 and pool.jobs[1].starts == 1 and pool.jobs[1].killed == 0
    assert task not in pool.nodes and loop.status.latest().removals == {"dc": 1}
    assert loop.status.latest().launches == {}                # the new one is there already
    assert loop.status.latest().site("dc").running == 1
    run(loop, 55.0, 55.0)
    assert loop.controls.node_drains == frozenset()           # done: forgotten


def test_a_node_is_found_by_task_id_startd_name_or_host():
    loop, pool = make([])
    run(loop, 0.0, 5.0)
    (task,) = pool.nodes
    for name in (task, f"slot1@{task}"):
        assert loop.drain_node(name, WHO)["task_id"] == task
    # the simulated startds' host is the task id itself: a name that is no host fails
    with pytest.raises(UnknownNode):
        loop.drain_node("slot1@other", WHO)


def test_a_drained_site_removes_idle_executors_and_launches_nothing_until_undrained():
    loop, pool = make([Job(1, 17.0, 10.0, cpus=1.0, memory=512.0, site="campus")])
    loop.set_site("campus", {"desired": 1}, WHO)
    run(loop, 0.0, 10.0)
    assert loop.status.latest().site("campus").running == 1
    loop.set_site("campus", {"desired": None}, WHO)
    loop.drain_site("campus", WHO)
    run(loop, 15.0, 30.0)
    campus = loop.status.latest().site("campus")
    assert (campus.running, campus.starting, campus.wanted, campus.jobs_idle) == (0, 0, 0, 1)
    assert campus.drained and pool.jobs[1].start is None
    assert (Code.SITE_DRAINED, "campus") in {(r.code, r.site) for r in
                                            loop.status.latest().reasons}
    loop.undrain_site("campus", WHO)
    run(loop, 35.0, 55.0)
    assert loop.status.history()[-5].launches == {"campus": 1}        # at 35 s
    assert (pool.jobs[1].start, pool.jobs[1].end) == (41.0, 51.0)     # booted at 40


def test_paused_then_resumed():
    loop, pool = make([Job(1, 0.0, 5.0, cpus=1.0, memory=512.0, site="campus")])
    loop.pause(WHO)
    run(loop, 0.0, 20.0)
    status = loop.status.latest()
    assert status.paused and status.site("campus").wanted == 0
    assert status.site("dc").wanted == 1                      # the minimum still kept
    assert Code.PAUSED in {r.code for r in status.reasons}
    loop.resume(WHO)
    run(loop, 25.0, 45.0)
    assert pool.jobs[1].end is not None and not loop.status.latest().paused


class Broken(PoolMonitor):
    def snapshot(self, now: float) -> PoolSnapshot:
        raise RuntimeError("boom")


def test_a_tick_that_raises_is_counted_and_raised():
    loop, pool = make([])
    loop.monitor = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        loop.tick(0.0)
    totals = loop.status.totals()
    assert totals.tick_failures == 1 and totals.ticks == 0 and loop.status.latest() is None


def test_clues_sizes_the_pool_so_operator_requests_are_refused():
    loop, _ = make([], parse_spec(SPEC_TEXT % "clues"))
    with pytest.raises(NotOperable, match="sized by CLUES") as err:
        loop.pause(WHO)
    assert err.value.status == 409 and not loop.controls.paused


class ListingPool(OperatorSimPool):
    """A pool whose backend lists its tasks, failing on demand."""

    fail = False

    def tasks(self):
        if self.fail:
            raise RuntimeError("backend down")
        from framework.backends.views import TaskView
        return [TaskView(e.task_id, "executor", e.site, e.state.value, None, None, None, None)
                for e in self.executors()]


def test_the_tasks_are_asked_once_a_tick_and_kept_when_the_backend_fails():
    pool = ListingPool(["dc", "campus"], (2.0, 4096.0), [], Timings(boot_s=5.0))
    loop = ElasticLoop(SPEC, pool, pool, pool)
    assert loop.task_views() == []
    loop.tick(0.0)
    (view,) = loop.task_views()
    assert (view.role, view.site, view.state) == ("executor", "dc", "starting")
    pool.fail = True
    loop.tick(5.0)
    assert loop.task_views() == [view]


class HidingPool(OperatorSimPool):
    """The backend leaves some tasks out of its list (an unreachable agent) while their
    startds still advertise."""

    hide: set[str] = set()

    def executors(self):
        return [e for e in super().executors() if e.task_id not in self.hide]


def test_a_node_drain_outlives_its_task_missing_from_the_backend_for_a_while():
    pool = HidingPool(["dc", "campus"], (2.0, 4096.0),
                      [Job(1, 0.0, 100.0, cpus=1.0, memory=512.0, site="dc")],
                      Timings(boot_s=5.0, claim_s=1.0, negotiation_s=2.0))
    loop = ElasticLoop(SPEC, pool, pool, pool)
    run(loop, 0.0, 10.0)
    (task,) = pool.nodes
    loop.drain_node(task, WHO)
    run(loop, 15.0, 15.0)
    assert pool.nodes[task].draining and loop.state.drains[task].operator
    pool.hide = {task}                                        # unreachable for two ticks
    run(loop, 20.0, 25.0)
    assert loop.controls.node_drains == {task} and task in loop.state.drains
    pool.hide = set()
    run(loop, 30.0, 30.0)                                     # back: still the operator's
    assert pool.nodes[task].draining and pool.metrics.drains_cancelled == 0
    assert not any(r.code is Code.OPERATOR_DRAIN and "cancelled" in r.detail
                   for t in loop.status.history() for r in t.reasons)
    assert loop.controls.node_drains == {task} and loop.state.drains[task].operator


class SharedHost(OperatorSimPool):
    """Startds named ``slot1@<task>@shared``: several executors on one host."""

    def snapshot(self, now: float) -> PoolSnapshot:
        s = super().snapshot(now)
        return dataclasses.replace(s, startds=tuple(
            dataclasses.replace(a, name=f"slot1@{a.task_id}@shared") for a in s.startds))


def test_a_host_with_several_executors_is_refused_and_slot_names_are_taken():
    pool = SharedHost(["dc", "campus"], (2.0, 4096.0), [],
                      Timings(boot_s=5.0, claim_s=1.0, negotiation_s=2.0))
    loop = ElasticLoop(SPEC, pool, pool, pool)
    loop.set_site("dc", {"desired": 2}, WHO)
    run(loop, 0.0, 10.0)
    one, two = sorted(pool.nodes)
    before = loop.controls
    with pytest.raises(InvalidControl, match=f"^'shared' names 2 executors \\(slot1@{one}@shared"
                                             f", slot1@{two}@shared\\): name one by its startd "
                                             f"name or task id$") as err:
        loop.drain_node("shared", WHO)
    assert err.value.status == 400 and loop.controls is before
    # a dynamic slot's name (as condor_status shows a busy startd) names its startd
    assert loop.drain_node(f"slot1_3@{two}@shared", WHO)["task_id"] == two
    assert loop.drain_node(f"{one}@shared", WHO)["task_id"] == one
    with pytest.raises(UnknownNode):
        loop.drain_node("slot1_3@nobody@shared", WHO)


class Watching(StatusLog):
    """Notes whether the loop's lock is held when an action is recorded."""

    loop: ElasticLoop | None = None

    def __init__(self) -> None:
        super().__init__()
        self.held: list[bool] = []

    def operator(self, action) -> None:
        self.held.append(self.loop._lock.locked())
        super().operator(action)


def test_actions_are_recorded_with_the_change_so_in_the_order_of_the_changes():
    pool = OperatorSimPool(["dc", "campus"], (2.0, 4096.0), [], Timings())
    status = Watching()
    loop = ElasticLoop(SPEC, pool, pool, pool, status=status)
    status.loop = loop
    loop.pause(WHO)
    loop.set_site("dc", {"max": 3}, WHO)
    assert status.held == [True, True]


# -- the controls kept across restarts (a ControlStore) ------------------------------

class MemoryStore(ControlStore):
    """Keeps the documents it was given (a copy each), in order; ``fail``: the reason a
    save fails with (None: it does not)."""

    def __init__(self, doc: dict | None = None) -> None:
        self.docs: list[dict] = [] if doc is None else [copy.deepcopy(doc)]
        self.fail: str | None = None
        self.held: list[bool] = []        # whether the loop's lock was held on each save
        self.loop: ElasticLoop | None = None

    def load(self) -> dict | None:
        return copy.deepcopy(self.docs[-1]) if self.docs else None

    def save(self, doc: dict) -> None:
        self.held.append(self.loop is not None and self.loop._lock.locked())
        if self.fail is not None:
            raise ControlsNotSaved(self.fail)
        self.docs.append(copy.deepcopy(doc))


def kept_log(caplog) -> list[logging.LogRecord]:
    """What the controls' keeper said (the audit log, which says who changed what, is
    shown at INFO once the command line ran in this process)."""
    return [r for r in caplog.records if r.name == "framework.controlstore"]


class UnreadableStore(MemoryStore):
    def load(self) -> dict | None:
        raise ControlsNotSaved("zk node /htcmesos/p is unreadable")


def kept(store: MemoryStore, jobs: list[Job] | None = None) -> tuple[ElasticLoop, OperatorSimPool]:
    pool = OperatorSimPool(["dc", "campus"], (2.0, 4096.0), jobs or [],
                           Timings(boot_s=5.0, claim_s=1.0, negotiation_s=2.0))
    loop = ElasticLoop(SPEC, pool, pool, pool, controls_store=store)
    store.loop = loop
    return loop, pool


def test_each_accepted_change_is_saved_under_the_lock_and_a_new_loop_starts_from_it():
    store = MemoryStore()
    loop, _ = kept(store)
    assert store.docs == []                                   # nothing saved, nothing written
    assert loop.drain_site("campus", WHO)["saved"] is True
    assert loop.set_site("dc", {"max": 3, "desired": 2}, WHO) == {
        "site": "dc", "min": 1, "max": 3, "desired": 2, "drained": False, "saved": True}
    assert loop.pause(WHO) == {"paused": True, "saved": True}
    with pytest.raises(InvalidControl):
        loop.set_site("dc", {"min": 4}, WHO)                  # refused: nothing saved
    assert len(store.docs) == 3 and store.held == [True, True, True]
    assert store.docs[-1] == {"paused": True, "node_drains": [], "sites": {
        "campus": {"min": 0, "max": 3, "desired": None, "drained": True,
                   "spec": {"min": 0, "max": 3}},
        "dc": {"min": 1, "max": 3, "desired": 2, "drained": False,
               "spec": {"min": 1, "max": 4}}}}
    again, _ = kept(store)                                    # a restarted framework
    assert again.controls == loop.controls and len(store.docs) == 3
    assert again.controls.site("campus").drained and again.controls.paused


def test_node_drains_that_end_are_saved_once():
    store = MemoryStore()
    loop, pool = kept(store, [Job(1, 0.0, 20.0, cpus=1.0, memory=512.0, site="dc")])
    run(loop, 0.0, 10.0)
    (task,) = [e.task_id for e in pool.executors()]
    assert loop.drain_node(task, WHO) == {
        "node": task, "task_id": task, "saved": True,
        "message": f"{task} is drained (running jobs finish), then its executor task "
                   f"{task} is removed"}
    assert store.docs[-1]["node_drains"] == [task]
    run(loop, 15.0, 30.0)                     # the job ends at 27, its executor goes at 30
    assert pool.jobs[1].end == 27.0 and task not in pool.nodes
    assert loop.controls.node_drains == {task} and len(store.docs) == 1
    run(loop, 35.0, 35.0)                                     # its drain is over
    assert loop.controls.node_drains == frozenset()
    assert len(store.docs) == 2 and store.docs[-1]["node_drains"] == []
    assert store.held == [True, True]
    run(loop, 40.0, 50.0)
    assert len(store.docs) == 2                               # nothing changed: not saved


def test_a_failed_save_keeps_the_change_says_so_and_is_retried_every_tick(caplog):
    store = MemoryStore()
    loop, _ = kept(store)
    store.fail = "disk full"
    with caplog.at_level(logging.INFO, logger="framework.controlstore"):
        answer = loop.drain_site("campus", WHO)
        assert answer["saved"] is False and answer["drained"] is True
        assert answer["warning"] == ("the change holds but was not saved (disk full): a "
                                     "restarted framework would not know it; saving is "
                                     "retried every tick")
        assert loop.controls.site("campus").drained
        assert loop.status.actions()[0].what == "drain site campus"   # recorded all the same
        run(loop, 0.0, 10.0)                                  # retried: said once
        assert len(store.held) == 4 and store.docs == []
        store.fail = None
        run(loop, 15.0, 20.0)
    assert len(store.held) == 5                               # saved at 15, then no more
    assert store.docs == [loop.controls.to_doc(SPEC)]
    said = [(r.levelname, r.getMessage()) for r in kept_log(caplog)]
    assert said == [("WARNING", "the operators' controls were not saved (disk full): they "
                                "hold until the framework stops; saving is retried every "
                                "tick"),
                    ("INFO", "the operators' controls are saved again")]


def test_saved_controls_the_spec_no_longer_allows_are_dropped_with_a_warning(caplog):
    saved = Controls.from_spec(SPEC).with_drained("campus", True).with_site(
        "dc", {"desired": 3}).to_doc(SPEC)
    saved["sites"]["lab"] = {"min": 0, "max": 2, "desired": None, "drained": True}
    saved["sites"]["dc"]["desired"] = 9
    store = MemoryStore(saved)
    with caplog.at_level(logging.INFO, logger="framework.controlstore"):
        loop, _ = kept(store)
    assert loop.controls == Controls.from_spec(SPEC).with_drained("campus", True)
    assert [(r.levelname, r.getMessage()) for r in kept_log(caplog)] == [
        ("WARNING", "saved controls of site 'dc' dropped: desired 9 is above max 4 at site dc "
                    "(it must be within min 1 and max 4)"),
        ("WARNING", "saved controls of site 'lab' dropped: the spec has no such site"),
        ("INFO", "the operators' controls of pool p restored: site campus drained")]
    # what is left is saved at once: the next start says nothing
    assert store.docs[-1] == loop.controls.to_doc(SPEC) and len(store.docs) == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="framework.controlstore"):
        assert kept(store)[0].controls == loop.controls
    assert kept_log(caplog) == []


@pytest.mark.parametrize("store, said", [
    (UnreadableStore(), "the operators' saved controls cannot be read (zk node /htcmesos/p "
                        "is unreadable): the pool starts from the spec's bounds"),
    (MemoryStore({"sites": "dc"}), "saved controls dropped: 'sites' is not an object but "
                                   "\"dc\"; the pool starts from the spec's bounds"),
])
def test_unreadable_or_malformed_saved_controls_start_from_the_spec(caplog, store, said):
    with caplog.at_level(logging.WARNING, logger="framework.controlstore"):
        loop, _ = kept(store)
    assert loop.controls == Controls.from_spec(SPEC)
    assert [r.getMessage() for r in kept_log(caplog)] == [said]
    assert loop.pause(WHO)["saved"] is True                   # and it saves from then on


def test_without_a_store_the_answers_have_no_saved_key_and_clues_ignores_saved_controls(
        caplog):
    loop, _ = make([])
    assert loop.pause(WHO) == {"paused": True}
    clues = parse_spec(SPEC_TEXT % "clues")
    store = MemoryStore(Controls.from_spec(clues).with_paused(True).to_doc(clues))
    pool = OperatorSimPool(["dc", "campus"], (2.0, 4096.0), [], Timings())
    with caplog.at_level(logging.WARNING, logger="framework.controlstore"):
        loop = ElasticLoop(clues, pool, pool, pool, controls_store=store)
    assert not loop.controls.paused
    assert [r.getMessage() for r in kept_log(caplog)] == [
        "the operators' saved controls (autoscaling paused) are not used: pool p is sized by "
        "CLUES (autoscaling.driver: clues)"]
