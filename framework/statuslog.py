"""The status log: one :class:`TickStatus` per elastic tick, and running totals.

The elastic loop appends; the dashboard, the REST API and the Prometheus metrics only
read it (DESIGN: every tick's Decision is a status record the views read). Thread-safe:
one writer (the loop), any number of readers. Bounded: the last ``capacity`` ticks, of
which only the latest and the notable ones keep their reasons (a tick may give one per
executor; the history's points need the counts alone), the last ``notable`` decisions,
the last ``actions`` operator actions; totals by code, site and action.
Times: ``at`` is the loop's clock (s), ``wall`` the epoch (s) for people and Prometheus.
"""
from __future__ import annotations

import copy
import dataclasses
import threading
from collections import Counter, deque
from dataclasses import dataclass, field

from .planner.decision import Reason

#: Upper bounds (s) of the tick-duration histogram's buckets (+Inf is implied).
TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class SiteStatus:
    """One site after a tick. Executors: ``wanted`` (the decision's desired count),
    ``starting`` (launched, not yet running and healthy), ``running`` (running and
    healthy, ``idle`` and ``draining`` included), ``idle`` (running, no claim, not
    draining), ``draining``. Jobs: ``jobs_idle`` pinned to this site, ``jobs_running``
    here."""

    name: str
    private: bool
    wanted: int
    starting: int
    running: int
    idle: int
    draining: int
    jobs_idle: int
    jobs_running: int
    min: int
    max: int
    desired: int | None = None      # the operator's desired size (None: the queue's)
    drained: bool = False           # drained by the operator
    held: str | None = None         # why the backend launches nothing here now

    @property
    def missing(self) -> int:
        """Executors wanted but neither starting nor running."""
        return max(0, self.wanted - self.starting - self.running)


@dataclass(frozen=True)
class OperatorAction:
    """One accepted operator request: when (epoch s), who (token name @ address), what."""

    wall: float
    who: str
    what: str
    action: str                     # set_site | drain_site | undrain_site | drain_node |
                                    # pause | resume


@dataclass(frozen=True)
class TickStatus:
    """The pool after one tick, as views show it."""

    at: float                       # loop clock, s
    wall: float                     # epoch, s
    fresh: bool                     # the snapshot was fresh
    snapshot_age_s: float           # age of the snapshot's data
    error: str | None               # why the snapshot is stale (None: fresh)
    paused: bool
    sites: tuple[SiteStatus, ...]
    jobs_idle_any: int              # idle jobs that may run at any site
    reasons: tuple[Reason, ...]
    #: what the tick did, for people: "launch dc+2", "drain slot1@h", "remove t-1", …
    actions: tuple[str, ...]
    launches: dict[str, int]        # site → executors launched this tick
    drains: dict[str, int]          # site → drains started this tick
    removals: dict[str, int]        # site → executor tasks removed this tick
    errors: tuple[str, ...]         # what the actuator (the backend, HTCondor) failed at
    duration_s: float               # how long the tick took (wall)
    #: the reasons differ (by code and site) from the previous tick's, or it acted
    notable: bool = True

    def site(self, name: str) -> SiteStatus:
        return next(s for s in self.sites if s.name == name)


@dataclass
class Totals:
    """Running totals since the loop started (Prometheus counters)."""

    ticks: int = 0
    tick_failures: int = 0          # ticks that raised (nothing decided)
    stale: int = 0                  # ticks on a stale snapshot
    backend_errors: int = 0         # actuator errors (each failed call counts one)
    reasons: Counter = field(default_factory=Counter)       # code value → count
    launches: Counter = field(default_factory=Counter)      # site → count
    drains: Counter = field(default_factory=Counter)        # site → count
    removals: Counter = field(default_factory=Counter)      # site → count
    operator: Counter = field(default_factory=Counter)      # action → count
    #: tick durations: counts per bucket of TICK_BUCKETS (not cumulative), then +Inf
    duration_buckets: list[int] = field(default_factory=lambda: [0] * (len(TICK_BUCKETS) + 1))
    duration_sum: float = 0.0


class StatusLog:
    """The last ``capacity`` ticks, the notable ones (decisions) further back, the last
    operator actions, and the totals."""

    def __init__(self, capacity: int = 1800, notable: int = 200, actions: int = 100) -> None:
        self._lock = threading.Lock()
        self._ticks: deque[TickStatus] = deque(maxlen=capacity)
        self._notable: deque[TickStatus] = deque(maxlen=notable)
        self._actions: deque[OperatorAction] = deque(maxlen=actions)
        self._totals = Totals()

    def append(self, tick: TickStatus) -> None:
        """Keep one tick (and, when notable, in the decisions) and add it to the totals."""
        with self._lock:
            if self._ticks and not self._ticks[-1].notable and self._ticks[-1].reasons:
                self._ticks[-1] = dataclasses.replace(self._ticks[-1], reasons=())
            self._ticks.append(tick)
            if tick.notable:
                self._notable.append(tick)
            t = self._totals
            t.ticks += 1
            if not tick.fresh:
                t.stale += 1
            t.backend_errors += len(tick.errors)
            t.reasons.update(r.code.value for r in tick.reasons)
            for counter, per_site in ((t.launches, tick.launches), (t.drains, tick.drains),
                                      (t.removals, tick.removals)):
                for site, n in per_site.items():
                    if n > 0:
                        counter[site] += n
            t.duration_buckets[bucket(tick.duration_s)] += 1
            t.duration_sum += tick.duration_s

    def failed(self) -> None:
        """A tick raised: nothing was decided."""
        with self._lock:
            self._totals.tick_failures += 1

    def operator(self, action: OperatorAction) -> None:
        """Keep one accepted operator request."""
        with self._lock:
            self._actions.append(action)
            self._totals.operator[action.action] += 1

    def latest(self) -> TickStatus | None:
        """The last tick, None before the first."""
        with self._lock:
            return self._ticks[-1] if self._ticks else None

    def history(self, limit: int | None = None) -> list[TickStatus]:
        """The last ``limit`` ticks (all kept when None), oldest first; of them only the
        latest and the notable ones have their reasons."""
        with self._lock:
            return _last(list(self._ticks), limit)

    def decisions(self, limit: int | None = None) -> list[TickStatus]:
        """The last ``limit`` notable ticks, newest first."""
        with self._lock:
            return _last(list(self._notable), limit)[::-1]

    def actions(self, limit: int | None = None) -> list[OperatorAction]:
        """The last ``limit`` operator actions, newest first."""
        with self._lock:
            return _last(list(self._actions), limit)[::-1]

    def totals(self) -> Totals:
        """A copy of the totals (the caller may keep or change it)."""
        with self._lock:
            return copy.deepcopy(self._totals)

    @property
    def capacity(self) -> int:
        """How many ticks are kept."""
        return self._ticks.maxlen or 0


def bucket(duration_s: float) -> int:
    """Index in :attr:`Totals.duration_buckets` of a tick that took ``duration_s``: the
    first bucket whose upper bound is at least it, ``len(TICK_BUCKETS)`` for +Inf."""
    return next((i for i, bound in enumerate(TICK_BUCKETS) if duration_s <= bound),
                len(TICK_BUCKETS))


def _last(items: list, limit: int | None) -> list:
    if limit is None:
        return items
    return items[max(0, len(items) - limit):] if limit > 0 else []
