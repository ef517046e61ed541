"""Launch back-off per (role, site) and black-hole detection per site.

A task that ends unexpectedly delays the next launch of its (role, site) exponentially
(``base_s × factor^(n-1)``, at most ``max_s``); a task healthy for ``early_s`` (stable)
resets it. Health alone proves nothing: black-hole executors pass their first checks. A site where
``blackhole_failures`` tasks died within ``early_s`` of their launch inside
``window_s`` is a *black hole*: it gets no launches for ``hold_s`` (doubling each time
it is found again), then one probe: a single launch, whose early death holds the site
again. Times in seconds on the injected clock.

Detection needs deaths, and deaths come late: black-hole tasks die only after they are
running and healthy. So a site may have at most ``blackhole_failures`` launches that are
*unproven* (not yet healthy for ``early_s``) or died early in the window
(:meth:`LaunchBackoff.launch_room`); otherwise one burst of launches (up to
``max_launches_per_tick``) lands at a black hole before its first death is seen.
"""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

Key = tuple[str, str]  # (role, site)


class Blocked(str, enum.Enum):
    BACKOFF = "BACKOFF"
    BLACK_HOLE = "BLACK_HOLE"


@dataclass
class _KeyState:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class _SiteState:
    early: deque = field(default_factory=deque)  # times of early failures
    hold_until: float = 0.0
    holds: int = 0
    reason: str = ""


@dataclass
class BackoffPolicy:
    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 300.0
    early_s: float = 60.0
    #: a task healthy this long proves its site for the ramp (slow start: each proven
    #: task earns ``ramp_factor`` more launches); one that dies within ``early_s`` still
    #: counts as an early death
    prove_s: float = 5.0
    ramp_factor: int = 4
    blackhole_failures: int = 5
    window_s: float = 300.0
    hold_s: float = 600.0


class LaunchBackoff:
    """Remembers failures; answers whether a (role, site) may launch now, and why not."""

    def __init__(self, policy: BackoffPolicy | None = None):
        self.policy = policy or BackoffPolicy()
        self._keys: dict[Key, _KeyState] = {}
        self._sites: dict[str, _SiteState] = {}

    def failed(self, key: Key, now: float, lived_s: float, site_fault: bool = True) -> None:
        """A task of ``key`` ended unexpectedly ``lived_s`` seconds after its launch;
        ``site_fault=False``: its key backs off, but it does not count towards the site's
        black hole (a cause known not to be the site's)."""
        p = self.policy
        ks = self._keys.setdefault(key, _KeyState())
        ks.failures += 1
        ks.not_before = now + min(p.max_s, p.base_s * p.factor ** (ks.failures - 1))
        if lived_s > p.early_s or not site_fault:
            return
        site = self._sites.setdefault(key[1], _SiteState())
        site.early.append(now)
        while site.early and site.early[0] < now - p.window_s:
            site.early.popleft()
        if len(site.early) >= self._limit(site) and now >= site.hold_until:
            hold = p.hold_s * 2 ** site.holds
            site.holds += 1
            site.hold_until = now + hold
            site.reason = (f"{len(site.early)} tasks died within {p.early_s:g} s of launch in "
                           f"the last {p.window_s:g} s; no launches for {hold:g} s")
            site.early.clear()

    def stable(self, key: Key) -> None:
        """A task of ``key`` has been healthy for ``early_s``: forget its failures."""
        self._keys.pop(key, None)
        site = self._sites.get(key[1])
        if site is not None:
            site.holds = 0
            site.early.clear()

    def blocked(self, key: Key, now: float) -> tuple[Blocked, str] | None:
        """Why ``key`` may not launch at ``now`` (reason code, text), or None."""
        site = self._sites.get(key[1])
        if site is not None and now < site.hold_until:
            return Blocked.BLACK_HOLE, f"site {key[1]} is a black hole: {site.reason}"
        ks = self._keys.get(key)
        if ks is not None and now < ks.not_before:
            return Blocked.BACKOFF, (f"{key[0]} at {key[1]}: {ks.failures} failure(s), next "
                                     f"launch in {ks.not_before - now:.1f} s")
        return None

    def launch_room(self, site: str, unproven: int, now: float, proven: int = 0) -> int:
        """How many more launches ``site`` may have now, besides its ``unproven`` tasks
        (active, launched by us, not yet healthy for ``early_s``); ``proven``: its tasks
        that have been.

        At most ``blackhole_failures`` launches may be unproven or have died early in the
        window: then a black hole is found (and held) after at most that many launches,
        however many executors the elastic loop wants there (the acceptance bound: at most
        5 launches with the defaults, not ``max_launches_per_tick``). A site that proves
        healthy earns room like a slow start: ``ramp_factor`` unproven launches per task
        healthy for ``prove_s`` (``proven``), so a cold site's ramp grows fourfold every
        few seconds (5, 20, 80, … 10,000 in six steps). After a hold, one probe: a single
        unproven launch until a task proves stable (:meth:`stable`)."""
        st = self._sites.get(site)
        limit = self._limit(st) if st is not None else self.policy.blackhole_failures
        if st is None or not st.holds:
            limit = max(limit, self.policy.ramp_factor * proven)
        return max(0, limit - self.early_deaths(site, now) - unproven)

    def _limit(self, site: _SiteState) -> int:
        """Early deaths (or unproven launches) that make a black hole: one on probation."""
        return 1 if site.holds else self.policy.blackhole_failures

    def early_deaths(self, site: str, now: float) -> int:
        """Tasks at ``site`` that died within ``early_s`` of launch in the window (since
        its last hold or stable task)."""
        st = self._sites.get(site)
        if st is None:
            return 0
        return sum(1 for t in st.early if t >= now - self.policy.window_s)

    def next_change(self, now: float) -> float | None:
        """The earliest future time at which some block ends (to schedule a revive)."""
        times = [s.hold_until for s in self._sites.values() if s.hold_until > now]
        times += [k.not_before for k in self._keys.values() if k.not_before > now]
        return min(times) if times else None
