"""The status log (bounded, totals, copies, threads) and the pure TickStatus builder."""
from __future__ import annotations

import threading

from framework.actuator import Applied
from framework.controls import Controls
from framework.monitor.snapshot import JobShape, PoolSnapshot, StartdInfo
from framework.planner import Code, Decision, Drain, Executor, PlannerState, Reason, TaskState
from framework.statuslog import TICK_BUCKETS, OperatorAction, StatusLog, TickStatus, bucket
from framework.tickstatus import tick_status
from tests.framework.test_controls import SPEC

NOW = 1000.0


def tick(at: float, *, fresh: bool = True, reasons=(), launches=None, drains=None,
         removals=None, errors=(), duration: float = 0.01, notable: bool = True) -> TickStatus:
    return TickStatus(at, 1.7e9 + at, fresh, 0.0, None if fresh else "down", False, (), 0,
                      tuple(reasons), (), launches or {}, drains or {}, removals or {},
                      tuple(errors), duration, notable)


def test_append_keeps_the_last_ticks_and_the_notable_ones_further_back():
    log = StatusLog(capacity=3, notable=2, actions=2)
    assert log.latest() is None and log.history(10) == [] and log.decisions(10) == []
    for i in range(5):
        log.append(tick(float(i), notable=i in (0, 1, 3)))
    assert [t.at for t in log.history()] == [2.0, 3.0, 4.0]          # oldest first
    assert [t.at for t in log.history(2)] == [3.0, 4.0]
    assert log.history(0) == []
    assert [t.at for t in log.decisions()] == [3.0, 1.0]             # newest first
    assert [t.at for t in log.decisions(1)] == [3.0]
    assert log.latest().at == 4.0 and log.capacity == 3
    assert log.totals().ticks == 5


def test_totals_count_everything_and_are_a_copy():
    log = StatusLog()
    r = Reason(Code.SCALE_UP, "dc", "x")
    log.append(tick(1, reasons=[r, Reason(Code.COVERED, "campus", "y")], launches={"dc": 2},
                    duration=0.05))
    log.append(tick(2, fresh=False, reasons=[r], drains={"dc": 1}, removals={"campus": 1},
                    errors=["kill t: boom", "drain s: no"], duration=0.07))
    log.append(tick(3, launches={"dc": 1, "campus": 0}, duration=100.0))
    log.failed()
    log.operator(OperatorAction(5.0, "ops@127.0.0.1", "pause autoscaling", "pause"))
    t = log.totals()
    assert (t.ticks, t.tick_failures, t.stale, t.backend_errors) == (3, 1, 1, 2)
    assert t.reasons == {"SCALE_UP": 2, "COVERED": 1}
    assert t.launches == {"dc": 3} and t.drains == {"dc": 1} and t.removals == {"campus": 1}
    assert t.operator == {"pause": 1}
    assert t.duration_buckets == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert abs(t.duration_sum - 100.12) < 1e-9
    t.reasons["SCALE_UP"] = 99
    t.duration_buckets[0] = 99
    assert log.totals().reasons["SCALE_UP"] == 2 and log.totals().duration_buckets[0] == 1


def test_buckets_are_upper_bounds():
    assert bucket(0.0) == 0 and bucket(0.05) == 0 and bucket(0.051) == 1
    assert bucket(30.0) == len(TICK_BUCKETS) - 1 and bucket(30.1) == len(TICK_BUCKETS)


def test_actions_newest_first_and_bounded():
    log = StatusLog(actions=2)
    for i, what in enumerate(["pause", "resume", "drain_site"]):
        log.operator(OperatorAction(float(i), "a@b", what, what))
    assert [a.action for a in log.actions()] == ["drain_site", "resume"]
    assert [a.action for a in log.actions(1)] == ["drain_site"]
    assert log.totals().operator == {"pause": 1, "resume": 1, "drain_site": 1}


def test_readers_and_a_writer_in_threads():
    log = StatusLog(capacity=50)
    seen: list[int] = []

    def read() -> None:
        for _ in range(100):
            seen.append(len(log.history()))
            log.totals()
            log.decisions(5)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for r in readers:
        r.start()
    for i in range(500):
        log.append(tick(float(i), launches={"dc": 1}))
    for r in readers:
        r.join(5)
    t = log.totals()
    assert t.ticks == 500 and t.launches == {"dc": 500} and len(log.history()) == 50
    assert len(seen) == 300 and max(seen) <= 50


# -- the builder ---------------------------------------------------------------------

def ad(task: str, site: str = "dc", claims: int = 0, draining: bool = False) -> StartdInfo:
    return StartdInfo(f"slot1@{task}", task, site, 4.0, 8192.0, 4.0 - claims, 8192.0,
                      claims, draining, NOW, NOW if claims == 0 else None, f"<{task}>")


def ex(task: str, site: str = "dc", state: TaskState = TaskState.RUNNING) -> Executor:
    return Executor(task, site, state, NOW - 100)


def test_tick_status_counts_per_site():
    snapshot = PoolSnapshot(NOW, True, (ad("a", claims=2), ad("b"), ad("c"), ad("d", draining=True),
                                        ad("e"), ad("k", "campus")),
                            (JobShape(1, 1024, "dc", 3), JobShape(2, 1024, "dc", 1),
                             JobShape(1, 1024, "campus", 2), JobShape(1, 1024, None, 5)),
                            {"dc": 7, "any": 3}, None, NOW - 4)    # by the site asked for
    before = [ex("a"), ex("b"), ex("c"), ex("d"), ex("e"), ex("k", "campus"),
              ex("z", "campus", TaskState.KILLING)]
    drain_c = Drain("c", "slot1@c", NOW - 50)
    drain_e = Drain("e", "slot1@e", NOW, operator=True)
    decision = Decision(NOW, {"dc": 7, "campus": 0}, {"dc": 1, "campus": 0},
                        drain=(ad("e"),), kill=("k",),
                        reasons=(Reason(Code.SCALE_UP, "dc", "1 new"),
                                 Reason(Code.DRAINED, "campus", "k drained")),
                        state=PlannerState(drains={"c": drain_c, "e": drain_e}))
    applied = Applied(decision.state, drained=(ad("e"),), killed=("k",),
                      errors=("desired campus=0: down",))
    after = [*before[:5], ex("k", "campus", TaskState.KILLING), ex("n1", state=TaskState.STARTING),
             ex("n2", state=TaskState.STARTING)]
    controls = Controls.from_spec(SPEC).with_site("dc", {"min": 2, "max": 8, "desired": 7}) \
        .with_paused(True)
    status = tick_status(controls.effective_spec(SPEC), controls, snapshot, before, after,
                         decision, applied, {"campus": "black hole"}, 1.7e9, 0.25, None)
    dc, campus = status.site("dc"), status.site("campus")
    assert (dc.wanted, dc.starting, dc.running, dc.idle, dc.draining) == (7, 2, 5, 1, 3)
    assert (dc.jobs_idle, dc.jobs_running, dc.min, dc.max, dc.desired) == (4, 2, 2, 8, 7)
    assert dc.missing == 0 and dc.held is None and not dc.drained and not dc.private
    assert (campus.wanted, campus.starting, campus.running, campus.jobs_idle) == (0, 0, 0, 2)
    assert campus.held == "black hole" and campus.private
    assert status.jobs_idle_any == 5 and status.paused and status.fresh
    assert status.snapshot_age_s == 4.0 and status.error is None
    assert status.launches == {"dc": 2}          # 7 wanted, 5 alive: 2 asked for
    assert status.drains == {"dc": 1} and status.removals == {"campus": 1}
    assert status.actions == ("launch dc+2", "remove k", "drain slot1@e (operator)")
    assert status.errors == ("desired campus=0: down",)
    assert (status.at, status.wall, status.duration_s, status.notable) == (NOW, 1.7e9, 0.25, True)


def test_notable_when_reasons_change_or_something_is_done():
    snapshot = PoolSnapshot(NOW, False, (), (), {}, "collector down", NOW - 30)
    quiet = Decision(NOW, {"dc": 1, "campus": 0}, {"dc": 0, "campus": 0},
                     reasons=(Reason(Code.STALE, "*", "30 s old"),), fresh=False)
    before = [ex("a")]
    first = tick_status(SPEC, None, snapshot, before, before, quiet, Applied(quiet.state),
                        {}, 1.0, 0.0, None)
    assert first.notable and not first.fresh and first.error == "collector down"
    assert first.snapshot_age_s == 30.0 and first.actions == () and not first.paused
    assert first.site("dc").min == 1 and first.site("dc").desired is None
    again = tick_status(SPEC, None, snapshot, before, before, quiet, Applied(quiet.state),
                        {}, 2.0, 0.0, first)
    assert not again.notable                      # same (code, site), nothing done
    cancel = Drain("a", "slot1@a", NOW - 5)
    other = Decision(NOW, {"dc": 1, "campus": 0}, {"dc": 0, "campus": 0}, cancel=(cancel,),
                     reasons=(Reason(Code.STALE, "*", "31 s old"),), fresh=False)
    acted = tick_status(SPEC, None, snapshot, before, before, other,
                        Applied(other.state, cancelled=("a",)), {}, 3.0, 0.0, again)
    assert acted.notable and acted.actions == ("cancel drain slot1@a",)


def test_no_launch_is_counted_where_the_backend_did_not_take_the_count():
    """The backend down: the count is asked for every tick; counting it each time would
    run launches_total away."""
    snapshot = PoolSnapshot(NOW, True, (), (), {}, None, NOW)
    decision = Decision(NOW, {"dc": 1, "campus": 2}, {"dc": 0, "campus": 2})
    applied = Applied(decision.state, errors=("desired campus=2: backend down",),
                      unsized=("campus",))
    status = tick_status(SPEC, None, snapshot, [], [], decision, applied, {}, 1.7e9, 0.0, None)
    assert status.launches == {"dc": 1} and status.actions == ("launch dc+1",)
    assert status.errors == ("desired campus=2: backend down",)


def test_older_quiet_ticks_keep_their_counts_not_their_reasons():
    """Memory: a tick's reasons (one per executor at times) are kept for the latest tick
    and the notable ones only; the history's points need the counts alone."""
    log = StatusLog(capacity=4)
    r = Reason(Code.MINIMUM, "dc", "slot1@a kept: at the minimum")
    for i in range(4):
        log.append(tick(float(i), reasons=[r], launches={"dc": 1} if i == 0 else None,
                        notable=i == 0))
    assert [len(t.reasons) for t in log.history()] == [1, 0, 0, 1]
    assert [t.launches for t in log.history()] == [{"dc": 1}, {}, {}, {}]
    assert log.latest().reasons == (r,) and log.decisions()[0].reasons == (r,)
    assert log.totals().reasons == {"MINIMUM": 4}
