"""Packing job shapes onto free, starting and new executors: what is placed, per shape."""
from __future__ import annotations

from collections import Counter

from framework.monitor.snapshot import JobShape
from framework.planner.packing import pack

SLOT = (4.0, 16384.0)


def test_each_shape_says_how_many_of_its_jobs_were_placed():
    shapes = [JobShape(1, 1024, None, 5), JobShape(4, 4096, "dc", 2)]
    free = Counter({("dc", 2.0, 8192.0): 1})
    out = pack(shapes, free, SLOT, {"dc": 2}, ["dc"])
    # largest first: the two 4-core jobs take both new executors, two 1-core jobs the free
    # half of a running one, three find no room
    assert out.new == Counter({"dc": 2})
    assert out.placed == Counter({(4, 4096, "dc"): 2, (1, 1024, None): 2})
    assert out.no_room == Counter({"any": 3})


def test_existing_capacity_alone_with_no_room():
    shapes = [JobShape(2, 2048, None, 3)]
    free = Counter({("dc", 4.0, 16384.0): 1, ("campus", 1.0, 1024.0): 2})
    out = pack(shapes, free, SLOT, {}, ["dc", "campus"])
    assert out.placed == Counter({(2, 2048, None): 2}) and not out.new
    assert out.placed_existing == Counter({"dc": 2})


def test_new_executors_are_counted_in_runs_and_their_leftovers_reused():
    # 3-core jobs leave one core on each new 4-core executor; the 1-core jobs use those
    # leftovers before any executor is added for them
    shapes = [JobShape(3, 3072, None, 5), JobShape(1, 1024, None, 7)]
    out = pack(shapes, Counter(), SLOT, {"dc": 100}, ["dc"])
    assert out.new == Counter({"dc": 5 + 1})        # 5 leftovers take 5, one more for 2
    assert out.placed == Counter({(3, 3072, None): 5, (1, 1024, None): 7})


def test_a_hundred_thousand_jobs_cost_a_handful_of_steps():
    shapes = [JobShape(c, 1024 * c, None, 25_000) for c in (1, 2, 3, 4)]
    out = pack(shapes, Counter({("dc", 4.0, 16384.0): 10_000}), SLOT, {"dc": 1 << 30}, ["dc"])
    # 250,000 cores wanted, 40,000 free: 4-core jobs fill the free executors first
    assert out.placed_existing == Counter({"dc": 10_000})
    # 3-core jobs: one each, leaving a core the 1-core jobs take; 2-core jobs: two each
    assert out.new["dc"] == 15_000 + 25_000 + 12_500 and not out.no_room
