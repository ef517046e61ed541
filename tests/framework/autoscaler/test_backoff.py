"""Launch back-off and black-hole detection on a hand-moved clock."""
from __future__ import annotations

from framework.autoscaler.backoff import BackoffPolicy, Blocked, LaunchBackoff

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
    for t in (103, 104, 105):
        b.failed(KEY, t, lived_s=1)
    assert b.blocked(KEY, 105 + 199)[0] is Blocked.BLACK_HOLE            # hold doubled
    assert b.blocked(KEY, 105 + 201) is None


def test_late_failures_do_not_make_a_black_hole():
    b = LaunchBackoff(BackoffPolicy(base_s=0.1, early_s=60, blackhole_failures=2))
    for t in range(5):
        b.failed(KEY, t * 10, lived_s=3600)
    assert b.blocked(KEY, 100) is None


def test_early_failures_outside_window_are_forgotten():
    b = LaunchBackoff(BackoffPolicy(base_s=0.1, blackhole_failures=3, window_s=10))
    b.failed(KEY, 0, 1), b.failed(KEY, 5, 1), b.failed(KEY, 20, 1)
    assert b.blocked(KEY, 21) is None
