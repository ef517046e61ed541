"""How many new executors the idle jobs need, pure: first fit of job shapes into slots.

Capacity is grouped by shape (site, free cpus, free memory) instead of kept per startd, so
a pool of 10,000 idle executors with identical free slots is one group: the cost is
O(job shapes × distinct capacity shapes), not O(jobs × startds). Jobs are placed largest
first; existing free capacity (startds not draining, executors still starting) is used
before new executors are counted. Units: cpus in cores, memory in MiB.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from ..monitor.snapshot import JobShape

_EPS = 1e-9

Bin = tuple[str, float, float]     # (site, free cpus, free memory)


@dataclass
class Packing:
    """The result: new executors per site, jobs placed on existing capacity per site, and
    what could not be placed (with why)."""

    new: Counter = field(default_factory=Counter)               # site → new executors
    placed_existing: Counter = field(default_factory=Counter)   # site → jobs on free capacity
    used_bins: Counter = field(default_factory=Counter)         # (site, cpus, mem) → bins used
    too_big: int = 0                  # jobs no executor slot can hold
    unknown_site: int = 0             # jobs pinned to a site the spec does not have
    no_room: Counter = field(default_factory=Counter)           # site → jobs over the site max


def _fits(cpus: float, mem: float, shape: JobShape) -> int:
    if shape.cpus <= _EPS and shape.memory <= _EPS:
        return 1 << 30
    by_cpu = math.floor((cpus + _EPS) / shape.cpus) if shape.cpus > _EPS else 1 << 30
    by_mem = math.floor((mem + _EPS) / shape.memory) if shape.memory > _EPS else 1 << 30
    return max(0, min(by_cpu, by_mem))


def pack(shapes: Iterable[JobShape], free: Counter, slot: tuple[float, float],
         room: dict[str, int], site_order: list[str]) -> Packing:
    """Place ``shapes`` onto ``free`` capacity (Counter of :data:`Bin` → count), then onto
    new executors of size ``slot`` (cpus, memory) at the jobs' site, or for unpinned jobs
    at the first site of ``site_order`` with ``room`` left (room: new executors allowed)."""
    out = Packing()
    free = Counter(free)
    room = dict(room)
    partial: dict[str, list[tuple[float, float]]] = {}   # site → leftovers of new executors
    for shape in sorted(shapes, key=lambda s: (-s.cpus, -s.memory, s.site or "")):
        left = shape.count
        if _fits(slot[0], slot[1], shape) == 0:
            out.too_big += left
            continue
        if shape.site is not None and shape.site not in room:
            out.unknown_site += left
            continue
        sites = [shape.site] if shape.site is not None else site_order
        left = _existing(shape, left, free, sites, out)
        for site in sites:
            if left <= 0:
                break
            left = _onto_partials(shape, left, partial.setdefault(site, []))
            per = _fits(slot[0], slot[1], shape)
            while left > 0 and room.get(site, 0) > 0:
                take = min(per, left)
                left -= take
                room[site] -= 1
                out.new[site] += 1
                rest = (slot[0] - take * shape.cpus, slot[1] - take * shape.memory)
                if _fits(rest[0], rest[1], JobShape(0.001, 0.001, None, 1)):
                    partial[site].append(rest)
        if left > 0:
            out.no_room[shape.site or "any"] += left
    return out


def _existing(shape: JobShape, left: int, free: Counter, sites: list[str], out: Packing) -> int:
    """Jobs of ``shape`` onto existing free capacity at ``sites``; the jobs still left."""
    for key in sorted(free, key=lambda b: (sites.index(b[0]) if b[0] in sites else 1 << 20,
                                           -b[1], -b[2])):
        if left <= 0:
            break
        site, cpus, mem = key
        count = free[key]
        if site not in sites or count <= 0:
            continue
        per = _fits(cpus, mem, shape)
        if per == 0:
            continue
        bins = min(count, math.ceil(left / per))
        placed = min(left, bins * per)
        left -= placed
        out.placed_existing[site] += placed
        out.used_bins[key] += bins
        free[key] -= bins
        # the last bin may be partly used: its leftover becomes a bin of another shape
        last = placed - (bins - 1) * per
        rest = (cpus - last * shape.cpus, mem - last * shape.memory)
        if bins and (rest[0] > _EPS and rest[1] > _EPS):
            free[(site, rest[0], rest[1])] += 1
        if per < (1 << 30):
            full = (cpus - per * shape.cpus, mem - per * shape.memory)
            if bins > 1 and full[0] > _EPS and full[1] > _EPS:
                free[(site, full[0], full[1])] += bins - 1
    return left


def _onto_partials(shape: JobShape, left: int, partials: list[tuple[float, float]]) -> int:
    """Jobs onto the leftovers of executors counted new this tick."""
    for i, (cpus, mem) in enumerate(partials):
        if left <= 0:
            break
        per = min(_fits(cpus, mem, shape), left)
        if per:
            left -= per
            partials[i] = (cpus - per * shape.cpus, mem - per * shape.memory)
    return left
