"""Launch back-off and black-hole detection on a hand-moved clock."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from framework.autoscaler.backoff import BackoffPolicy, Blocked, LaunchBackoff
from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.needs import TaskRecord, compute_needs
from framework.model import Role
from framework.spec import parse_spec
from tests.framework.test_spec import GOOD

KEY = ("executor", "campus")


def test_exponential_backoff_and_reset():
    b = LaunchBackoff(BackoffPolicy(base_s=2, factor=2, max_s=10, blackhole_failures=99))
    assert b.blocked(KEY, 0) is None
    b.failed(KEY, 0, lived_s=500)
    assert b.blocked(KEY, 1.9)[0] is Blocked.BACKOFF and b.blocked(KEY, 2.0) is None
    b.failed(KEY, 2, lived_s=500)
    assert b.blocked(KEY, 5.9) and b.blocked(KEY, 6.0) is None   # 4 s
    b.failed(KEY, 6, 500), b.failed(KEY, 6, 500), b.failed(KEY, 6, 500)
    assert b.blocked(KEY, 15.9) and b.blocked(KEY, 16.0) is None  # capped at 10 s
    assert b.next_change(7) == 16.0
    b.stable(KEY)
    assert b.blocked(KEY, 7) is None
    assert b.blocked(("executor", "dc"), 7) is None  # other keys untouched


def test_black_hole_after_bounded_early_failures_then_probe():
    p = BackoffPolicy(base_s=0.1, early_s=60, blackhole_failures=3, window_s=300, hold_s=100)
    b = LaunchBackoff(p)
    for t in (0, 1):
        b.failed(KEY, t, lived_s=5)
    assert b.blocked(KEY, 2) is None
    b.failed(KEY, 2, lived_s=5)
    code, text = b.blocked(KEY, 3)
    assert code is Blocked.BLACK_HOLE and "campus" in text and "3 tasks died" in text
    assert b.blocked(("submitter", "campus"), 3)[0] is Blocked.BLACK_HOLE  # whole site
    assert b.blocked(KEY, 101.9) and b.blocked(KEY, 102.1) is None      # probe after hold
    assert b.launch_room("campus", 0, 102.1, proven=7) == 1              # one probe
    assert b.launch_room("campus", 1, 102.1) == 0
    b.failed(KEY, 103, lived_s=1)                                        # the probe dies
    assert b.blocked(KEY, 103 + 199)[0] is Blocked.BLACK_HOLE            # hold doubled
    assert b.blocked(KEY, 103 + 201) is None
    b.stable(KEY)                                                        # it works again
    assert b.launch_room("campus", 0, 400) == 3


def test_late_failures_do_not_make_a_black_hole():
    b = LaunchBackoff(BackoffPolicy(base_s=0.1, early_s=60, blackhole_failures=2))
    for t in range(5):
        b.failed(KEY, t * 10, lived_s=3600)
    assert b.blocked(KEY, 100) is None


def test_early_failures_outside_window_are_forgotten():
    b = LaunchBackoff(BackoffPolicy(base_s=0.1, blackhole_failures=3, window_s=10))
    b.failed(KEY, 0, 1), b.failed(KEY, 5, 1), b.failed(KEY, 20, 1)
    assert b.blocked(KEY, 21) is None


def test_launch_room_counts_unproven_tasks_and_early_deaths():
    b = LaunchBackoff(BackoffPolicy(base_s=0.1, early_s=60, blackhole_failures=5, window_s=100))
    assert b.launch_room("campus", 0, 0) == 5              # a fresh site: at most 5 unproven
    assert b.launch_room("campus", 3, 0) == 2
    assert b.launch_room("campus", 9, 0) == 0               # never negative
    b.failed(KEY, 1, lived_s=1), b.failed(KEY, 2, lived_s=1)
    assert b.early_deaths("campus", 3) == 2
    assert b.launch_room("campus", 2, 3) == 1               # 2 died early + 2 unproven
    assert b.launch_room("dc", 0, 3) == 5                   # per site
    b.failed(KEY, 3, lived_s=3600)                          # a late death proves nothing
    assert b.launch_room("campus", 0, 4) == 3
    assert b.launch_room("campus", 0, 101.5) == 4           # one left the window
    b.stable(KEY)                                           # the site works after all
    assert b.launch_room("campus", 0, 5) == 5
    # slow start: ramp_factor (4) unproven launches per proven task (at least 5)
    assert b.launch_room("dc", 2, 5, proven=1) == 3
    assert b.launch_room("dc", 2, 5, proven=3) == 10
    assert b.launch_room("dc", 2, 5, proven=8) == 30


def _needs_at(records: list[TaskRecord], desired: dict[str, int], backoff: LaunchBackoff,
              now: float, cap: int = 10) -> tuple[dict[str, int], list[str]]:
    """The executor launches compute_needs allows per site (master and submitter up)."""
    spec = parse_spec(GOOD.replace("max: 7", "max: 20"), "t.yaml", Path("/base"))
    spec = dataclasses.replace(spec, autoscaling=dataclasses.replace(
        spec.autoscaling, max_launches_per_tick=cap))
    central = [TaskRecord("m", Role.MASTER, "alpha", Phase.RUNNING, 0, healthy=True,
                          stable=True),
               TaskRecord("s", Role.SUBMITTER, "alpha", Phase.RUNNING, 0, healthy=True,
                          stable=True)]
    out = compute_needs(spec, central + records, desired, backoff, now)
    counts = {next(iter(n.sites)): n.count for n in out.needs if n.role == "executor"}
    return counts, [code.value for code, _ in out.reasons]


def test_elastic_demand_gets_at_most_blackhole_failures_launches_at_a_black_hole():
    """Acceptance: a site whose executors die right after start gets at most 5 launches
    before it is held, even when the elastic loop wants 20 there and
    max_launches_per_tick (10) would let a whole burst land before the first death."""
    b = LaunchBackoff(BackoffPolicy())                     # the production defaults
    desired = {"alpha": 1, "beta": 20}
    launched: list[TaskRecord] = []
    now = 0.0
    while (b.blocked(("executor", "beta"), now) or (None,))[0] is not Blocked.BLACK_HOLE:
        counts, codes = _needs_at(launched, desired, b, now)
        for _ in range(counts.get("beta", 0)):
            launched.append(TaskRecord(f"beta-{len(launched)}", Role.EXECUTOR, "beta",
                                       Phase.RUNNING, now, healthy=True))  # passes checks
        assert counts.get("beta", 0) or "UNPROVEN_LIMIT" in codes or "BACKOFF" in codes
        now += 1.0                                         # the oldest dies 1 s later
        victim = next((r for r in launched if r.phase is Phase.RUNNING), None)
        if victim is not None:
            victim.phase = Phase.ENDED
            b.failed(("executor", "beta"), now, now - victim.launched_at)
        assert now < 1000
    assert len(launched) == 5
    counts, codes = _needs_at([r for r in launched if r.phase is not Phase.ENDED], desired,
                              b, now)
    assert "beta" not in counts and "BLACK_HOLE" in codes  # held, and the status says so
    # a healthy site ramps 5 at a time until its executors have proved it
    counts, _ = _needs_at([], {"alpha": 9, "beta": 0}, LaunchBackoff(BackoffPolicy()), 0)
    assert counts["alpha"] == 5
    ok = [TaskRecord(f"a{i}", Role.EXECUTOR, "alpha", Phase.RUNNING, 0, healthy=True,
                     stable=True) for i in range(5)]
    counts, _ = _needs_at(ok, {"alpha": 9, "beta": 0}, LaunchBackoff(BackoffPolicy()), 61)
    assert counts["alpha"] == 4
    counts, _ = _needs_at(ok[:2], {"alpha": 20, "beta": 0}, LaunchBackoff(BackoffPolicy()),
                          61)
    assert counts["alpha"] == 8                            # 2 proven earn 8 (slow start ×4)
    counts, _ = _needs_at(ok, {"alpha": 20, "beta": 0}, LaunchBackoff(BackoffPolicy()), 61)
    assert counts["alpha"] == 10                           # 5 proven earn 20: the tick cap
    ok += [TaskRecord(f"b{i}", Role.EXECUTOR, "alpha", Phase.RUNNING, 61, healthy=True,
                      stable=True) for i in range(5)]
    counts, _ = _needs_at(ok, {"alpha": 30, "beta": 0}, LaunchBackoff(BackoffPolicy()), 122)
    assert counts["alpha"] == 10                           # 10 proven: 10 (the tick cap)
    restored = [TaskRecord(f"r{i}", Role.EXECUTOR, "alpha", Phase.RUNNING, 0, healthy=True,
                           restored=True) for i in range(5)]   # adopted after a restart
    counts, _ = _needs_at(restored, {"alpha": 9, "beta": 0}, LaunchBackoff(BackoffPolicy()), 0)
    assert counts["alpha"] == 4


def test_no_new_master_while_the_old_one_is_still_being_killed():
    """The master's address is fixed: its replacement waits for the old task to end."""
    spec = parse_spec(GOOD, "t.yaml", Path("/base"))
    leaving = TaskRecord("m1", Role.MASTER, "alpha", Phase.KILLING, 0, healthy=False)
    out = compute_needs(spec, [leaving], {}, LaunchBackoff(), 10)
    assert not [n for n in out.needs if n.role == "master"]
    assert [c.value for c, _ in out.reasons][:1] == ["MASTER_ADDRESS_BUSY"]
    leaving.phase = Phase.ENDED
    out = compute_needs(spec, [leaving], {}, LaunchBackoff(), 11)
    assert [(n.role, n.count) for n in out.needs] == [("master", 1)]
