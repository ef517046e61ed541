"""A seeded discrete-event HTCondor pool behind the production interfaces.

:class:`SimPool` is at once the elastic loop's :class:`~framework.monitor.PoolMonitor`
(snapshots), :class:`~framework.actuator.Backend` (executor tasks: launched to reach the
desired count, booting for ``boot_s``, killed on request) and
:class:`~framework.actuator.PoolControl` (drains). Jobs arrive from a workload; every
``negotiation_s`` a cycle matches idle jobs to registered, not draining startds with room
as HTCondor's negotiator and schedd do (:mod:`.negotiator`: requests in queue order, the
slot with the fewest free cores first, one match per slot and cycle, ``depth_first`` as
``NEGOTIATOR_DEPTH_FIRST``, leftovers claimed by the schedd); a match runs ``claim_s``
later and ends after the job's runtime. Killing an executor kills the jobs
running on it (they are requeued and counted: the figure htcmesos keeps at zero). A
collector outage (:meth:`outage`) makes snapshots stale.

Everything happens in :meth:`advance` on the simulation clock; nothing sleeps, and the
same seed gives the same run. Metrics (:class:`Metrics`) integrate idle provisioned
core-time, split by cause (:data:`IDLE_CAUSES`), and record queue waits.
"""
from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ...actuator import Backend, PoolControl
from ...actuator.actuator import missing_by_size
from ...condor.config import NEGOTIATOR_DEPTH_FIRST
from ...errors import DrainRefused
from ...monitor import JobShape, PoolMonitor, PoolSnapshot, StartdInfo
from ...planner import Drain, Executor, TaskState
from .model import Job, SimExecutor, Timings
from .negotiator import negotiate

#: Why provisioned cores are idle (seconds × cores in :attr:`Metrics.idle_by_cause`):
#: ``boot`` launched, startd not advertised yet; ``unmatched`` an empty startd while jobs
#: are queued (waiting for the negotiation cycle, or jobs it cannot take); ``empty`` an
#: empty startd with no job queued (idle before scale-in); ``draining`` drain requested,
#: until the task is killed; ``fragmented`` free cores of a startd that holds claims.
IDLE_CAUSES = ("boot", "unmatched", "empty", "draining", "fragmented")


@dataclass
class Metrics:
    """Figures of one run (seconds, cores × seconds)."""

    idle_core_s: float = 0.0          # provisioned cores not running a job, integrated
    busy_core_s: float = 0.0          # cores running jobs, integrated
    waits: list[float] = field(default_factory=list)        # first start − submit
    extra_waits: list[float] = field(default_factory=list)  # minus the wait for the next cycle
    killed_running: int = 0           # running jobs whose executor was killed
    launched: int = 0
    killed_executors: int = 0
    drains: int = 0
    drains_cancelled: int = 0
    claims_during_drain: int = 0      # matches that raced a drain decision: drain refused
    peak_executors: int = 0
    idle_by_cause: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(IDLE_CAUSES, 0.0))   # adds up to idle_core_s

    @property
    def idle_fraction(self) -> float:
        total = self.idle_core_s + self.busy_core_s
        return self.idle_core_s / total if total else 0.0


class SimPool(PoolMonitor, Backend, PoolControl):
    """The simulated pool (see the module docstring); ``sites`` → executor slot size."""

    def __init__(self, sites: list[str], slot: tuple[float, float], jobs: Iterable[Job],
                 timings: Timings = Timings(), start: float = 0.0,
                 depth_first: bool = NEGOTIATOR_DEPTH_FIRST) -> None:
        self.sites, self.slot, self.t = list(sites), slot, timings
        self.depth_first = depth_first
        self.now = start
        self.metrics = Metrics()
        self.jobs: dict[int, Job] = {}
        self.nodes: dict[str, SimExecutor] = {}      # task id → executor
        self.desired: dict[str, int] = {s: 0 for s in sites}
        self._idle: dict[int, Job] = {}                  # insertion order = queue order
        self._events: list[tuple[float, int, str, object]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._outage: tuple[float, float] | None = None
        self._last_snapshot: PoolSnapshot | None = None
        self._running: Counter = Counter()       # site → jobs running there
        self._started: set[int] = set()          # jobs whose current instance runs
        self._ended = 0
        self._pending_arrivals = 0
        for job in sorted(jobs, key=lambda j: (j.submit, j.id)):
            self._push(job.submit, "arrive", job)
            self._pending_arrivals += 1
        self._push(start + timings.negotiation_s, "negotiate", None)

    # -- simulation ------------------------------------------------------------------
    def advance(self, until: float) -> None:
        """Run every event up to ``until`` (inclusive) and move the clock there."""
        while self._events and self._events[0][0] <= until:
            at, _, kind, payload = heapq.heappop(self._events)
            self._account(at)
            getattr(self, "_on_" + kind)(payload)
        self._account(until)

    def done(self) -> bool:
        """Every job has ended and none will arrive."""
        return self._pending_arrivals == 0 and self._ended == len(self.jobs)

    def outage(self, start: float, end: float) -> None:
        """The collector cannot be reached from ``start`` to ``end``: stale snapshots."""
        self._outage = (start, end)

    def _push(self, at: float, kind: str, payload: object) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, payload))

    def _account(self, at: float) -> None:
        dt = at - self.now
        if dt > 0:
            m, cause = self.metrics, self.metrics.idle_by_cause
            queued = bool(self._idle)
            for ex in self.nodes.values():
                idle = ex.free_cpus * dt
                m.idle_core_s += idle
                m.busy_core_s += ex.used_cpus * dt
                if not ex.booted:
                    cause["boot"] += idle
                elif ex.draining:
                    cause["draining"] += idle
                elif ex.jobs:
                    cause["fragmented"] += idle
                else:
                    cause["unmatched" if queued else "empty"] += idle
            self.now = at

    def _on_arrive(self, job: Job) -> None:
        self.jobs[job.id] = job
        self._idle[job.id] = job
        self._pending_arrivals -= 1

    def _on_boot(self, task_id: str) -> None:
        ex = self.nodes.get(task_id)
        if ex is not None and not ex.killed:
            ex.booted, ex.idle_since = True, self.now

    def _on_start(self, payload: tuple[int, str]) -> None:
        job = self.jobs[payload[0]]
        ex = self.nodes.get(payload[1])
        if ex is None or ex.killed or job.executor != payload[1]:
            return
        if job.start is None:
            job.start = self.now
            self.metrics.waits.append(self.now - job.submit)
            cycle = self.t.negotiation_s
            next_cycle = (int(job.submit // cycle) + 1) * cycle
            self.metrics.extra_waits.append(max(0.0, self.now - next_cycle - self.t.claim_s))
        job.starts += 1
        self._running[ex.site] += 1
        self._started.add(job.id)
        self._push(self.now + job.runtime, "finish", (job.id, ex.task_id, job.starts))

    def _on_finish(self, payload: tuple[int, str, int]) -> None:
        job = self.jobs[payload[0]]
        ex = self.nodes.get(payload[1])
        if job.executor != payload[1] or job.starts != payload[2] or ex is None or ex.killed:
            return                                    # that instance was killed
        job.end = self.now
        self._ended += 1
        self._running[ex.site] -= 1
        self._started.discard(job.id)
        self._release(ex, job)

    def _release(self, ex: SimExecutor, job: Job) -> None:
        ex.jobs.discard(job.id)
        ex.used_cpus -= job.cpus
        ex.used_memory -= job.memory
        if not ex.jobs:
            ex.idle_since = self.now

    def _on_negotiate(self, _: object) -> None:
        self._push(self.now + self.t.negotiation_s, "negotiate", None)
        offers = (ex for ex in self.nodes.values()
                  if ex.booted and not ex.killed and not ex.draining)
        negotiate(self._idle, offers, self.depth_first, self._match)

    def _match(self, job: Job, ex: SimExecutor) -> None:
        del self._idle[job.id]
        job.executor = ex.task_id
        ex.jobs.add(job.id)
        ex.used_cpus += job.cpus
        ex.used_memory += job.memory
        ex.idle_since = None
        self._push(self.now + self.t.claim_s, "start", (job.id, ex.task_id))

    def idle_jobs(self) -> list[Job]:
        """The queue's idle jobs now, in queue order (what the snapshot counts by shape)."""
        return list(self._idle.values())

    # -- PoolMonitor -----------------------------------------------------------------
    def snapshot(self, now: float) -> PoolSnapshot:
        self.advance(now)
        if self._outage and self._outage[0] <= now < self._outage[1]:
            error = "collector unreachable (simulated outage)"
            if self._last_snapshot is None:
                return PoolSnapshot(now, False, error=error)
            return self._last_snapshot.stale_copy(now, error)
        startds = tuple(
            StartdInfo(f"slot1@{ex.task_id}", ex.task_id, ex.site, ex.cpus, ex.memory,
                       ex.free_cpus, ex.free_memory, len(ex.jobs), ex.draining, now,
                       ex.idle_since, ex.task_id)
            for ex in self.nodes.values() if ex.booted and not ex.killed)
        shapes = Counter((j.cpus, j.memory, j.site) for j in self._idle.values())
        running = +self._running
        snap = PoolSnapshot(now, True, startds,
                            tuple(JobShape(c, m, s, n) for (c, m, s), n in sorted(
                                shapes.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                kv[0][2] or ""))),
                            dict(running), None, now)
        self._last_snapshot = snap
        return snap

    # -- Backend ---------------------------------------------------------------------
    def executors(self) -> list[Executor]:
        return [Executor(ex.task_id, ex.site, TaskState.RUNNING if ex.booted
                         else TaskState.STARTING, ex.launched,
                         *((ex.cpus, ex.memory) if ex.exact else (0.0, 0.0)))
                for ex in self.nodes.values() if not ex.killed]

    def set_desired(self, site: str, count: int,
                    sizes: Mapping[tuple[float, float], int] | None = None) -> None:
        """As the Mesos backend: executors of each size in ``sizes`` up to their number,
        the rest of ``count`` of the slot size."""
        self.desired[site] = count
        have = Counter((ex.cpus, ex.memory) if ex.exact else None
                       for ex in self.nodes.values() if ex.site == site and not ex.killed)
        for size, n in missing_by_size(have, count, sizes or {}):
            self._launch(site, size or self.slot, n, exact=size is not None)
        live = sum(1 for ex in self.nodes.values() if not ex.killed)
        self.metrics.peak_executors = max(self.metrics.peak_executors, live)

    def _launch(self, site: str, size: tuple[float, float], n: int, exact: bool) -> None:
        for _ in range(n):
            task_id = f"sim.executor.{site}.{next(self._ids):06d}"
            self.nodes[task_id] = SimExecutor(task_id, site, size[0], size[1], self.now,
                                              exact=exact)
            self.metrics.launched += 1
            self._push(self.now + self.t.boot_s, "boot", task_id)

    def kill(self, task_id: str) -> bool:
        ex = self.nodes.get(task_id)
        if ex is None or ex.killed:
            return False
        ex.killed = True
        self.metrics.killed_executors += 1
        for job_id in list(ex.jobs):
            job = self.jobs[job_id]
            if job.id in self._started:               # it was running, not just matched
                self._started.discard(job.id)
                self._running[ex.site] -= 1
            self.metrics.killed_running += 1
            job.killed += 1
            job.executor = None
            self._idle[job.id] = job                   # back into the queue
        del self.nodes[task_id]
        return True

    # -- PoolControl -----------------------------------------------------------------
    def drain(self, startd: StartdInfo) -> str:
        ex = self.nodes.get(startd.task_id)
        if ex is None:
            raise LookupError(f"no startd {startd.name}")
        if ex.jobs:     # matched after the snapshot the drain was decided on: the startd's
            self.metrics.claims_during_drain += 1        # check refuses (condor/worker.py)
            raise DrainRefused(f"{startd.name} holds {len(ex.jobs)} claim(s): drain refused")
        ex.draining = True
        ex.drain_request += 1
        self.metrics.drains += 1
        return f"drain-{ex.task_id}-{ex.drain_request}"

    def operator_drain(self, startd: StartdInfo) -> str:
        """The operator's drain: no claim check; no new match, its jobs run to their end
        (the long retirement of condor/config.py)."""
        ex = self.nodes.get(startd.task_id)
        if ex is None:
            raise LookupError(f"no startd {startd.name}")
        ex.draining = True
        ex.drain_request += 1
        self.metrics.drains += 1
        return f"drain-{ex.task_id}-{ex.drain_request}"

    def cancel_drain(self, drain: Drain) -> None:
        ex = self.nodes.get(drain.task_id)
        if ex is None:
            raise LookupError(f"no startd {drain.startd}")
        ex.draining = False
        self.metrics.drains_cancelled += 1
