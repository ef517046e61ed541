"""How many new executors the idle jobs need, pure: first fit of job shapes into slots.

Capacity is grouped by shape (site, free cpus, free memory) instead of kept per startd, so
a pool of 10,000 idle executors with identical free slots is one group, and new executors
are counted in runs of identical leftovers: the cost is O(job shapes × distinct capacity
shapes), not O(jobs × startds). Jobs are placed largest
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
_CRUMB = JobShape(0.001, 0.001, None, 1)   # a leftover that holds nothing is dropped


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
    #: (cpus, memory, site) of a job shape → its jobs placed (free, starting or new)
    placed: Counter = field(default_factory=Counter)
    #: :func:`pack_jobs` only: (site, cpus, memory) of the new executors → how many
    sizes: Counter = field(default_factory=Counter)


#: Memory of executors sized to jobs is rounded up to this (MiB): fewer distinct sizes.
MEMORY_STEP = 256.0


def job_size(shape: JobShape, slot: tuple[float, float]) -> tuple[float, float]:
    """The executor for one job of ``shape``: whole cores, memory rounded up to
    :data:`MEMORY_STEP`, never beyond the executor ``slot`` (the job fits it)."""
    cpus = max(1.0, float(math.ceil(shape.cpus - _EPS)))
    mem = max(MEMORY_STEP, math.ceil((shape.memory - _EPS) / MEMORY_STEP) * MEMORY_STEP)
    return min(cpus, slot[0]), min(mem, slot[1])


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
    partial: dict[str, list[list]] = {}      # site → leftovers of new executors, in runs
    for shape, sites in _placeable(shapes, slot, room, site_order, out):
        left = _existing(shape, shape.count, free, sites, out)
        for site in sites:
            if left <= 0:
                break
            runs = partial.setdefault(site, [])
            left = _onto_partials(shape, left, runs)
            per = _fits(slot[0], slot[1], shape)
            n = min(room.get(site, 0), math.ceil(left / per)) if left > 0 else 0
            if n <= 0:
                continue
            placed = min(left, n * per)
            full = min(n, placed // per)           # new executors holding ``per`` jobs
            last = placed - full * per             # jobs on one more, partly filled
            left -= placed
            room[site] -= n
            out.new[site] += n
            for jobs, many in ((per, full), (last, 1 if last else 0)):
                rest = (slot[0] - jobs * shape.cpus, slot[1] - jobs * shape.memory)
                if many and _fits(rest[0], rest[1], _CRUMB):
                    runs.append([rest[0], rest[1], many])
        out.placed[(shape.cpus, shape.memory, shape.site)] += shape.count - left
        if left > 0:
            out.no_room[shape.site or "any"] += left
    return out


def takes(size: tuple[float, float], cpus: float, memory: float) -> bool:
    """Whether an executor sized to jobs (``size``) starts a job asking ``cpus`` and
    ``memory``: the START expression framework/condor/config.py renders for it."""
    return (size[0] - 1 < cpus <= size[0] + _EPS
            and size[1] - MEMORY_STEP < memory <= size[1] + _EPS)


def pack_jobs(shapes: Iterable[JobShape], free: Counter, exact: Counter,
              slot: tuple[float, float], room: dict[str, int], site_order: list[str]) -> Packing:
    """As :func:`pack`, for ``executor_size: jobs``: an executor sized to a job takes only
    jobs of its size (its START expression), one at a time. A job goes to an empty one of
    its size (``exact``: Counter of (site, cpus, memory) → empty or starting ones), else
    onto the ``free`` capacity of executors of the role's size, else to a new executor of
    its own size (:func:`job_size`): no cores stand idle beside a running job."""
    out = Packing()
    free, exact, room = Counter(free), Counter(exact), dict(room)
    for shape, sites in _placeable(shapes, slot, room, site_order, out):
        left = shape.count
        size = job_size(shape, slot)
        for site in sites:
            n = min(left, exact[(site, *size)])
            if n > 0:
                exact[(site, *size)] -= n
                left -= n
                out.placed_existing[site] += n
        left = _existing(shape, left, free, sites, out)
        for site in sites:
            n = min(left, room.get(site, 0))
            if n <= 0:
                continue
            left -= n
            room[site] -= n
            out.new[site] += n
            out.sizes[(site, *size)] += n
        out.placed[(shape.cpus, shape.memory, shape.site)] += shape.count - left
        if left > 0:
            out.no_room[shape.site or "any"] += left
    return out


def _placeable(shapes: Iterable[JobShape], slot: tuple[float, float], room: dict[str, int],
               site_order: list[str], out: Packing):
    """Job shapes largest first, with the sites they may go to; those no executor slot
    holds or pinned to a site the spec lacks are counted in ``out`` and left out."""
    for shape in sorted(shapes, key=lambda s: (-s.cpus, -s.memory, s.site or "")):
        if _fits(slot[0], slot[1], shape) == 0:
            out.too_big += shape.count
        elif shape.site is not None and shape.site not in room:
            out.unknown_site += shape.count
        else:
            yield shape, [shape.site] if shape.site is not None else site_order


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


def _onto_partials(shape: JobShape, left: int, runs: list[list]) -> int:
    """Jobs onto the leftovers of executors counted new this tick: ``runs`` of identical
    leftovers ``[cpus, memory, count]`` in the order the executors were counted, filled
    one leftover after the other (a run splits where the filling stops)."""
    i = 0
    while i < len(runs) and left > 0:
        cpus, mem, count = runs[i]
        per = _fits(cpus, mem, shape)
        if not per:
            i += 1
            continue
        bins = min(count, math.ceil(left / per))
        placed = min(left, bins * per)
        last = placed - (bins - 1) * per
        left -= placed
        split = [[cpus - per * shape.cpus, mem - per * shape.memory, bins - 1]] if bins > 1 else []
        split.append([cpus - last * shape.cpus, mem - last * shape.memory, 1])
        if count > bins:
            split.append([cpus, mem, count - bins])
        runs[i:i + 1] = split
        i += len(split)
    return left
