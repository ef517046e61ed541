"""How long demand waits for the planner: from a job's first appearance in a snapshot to the
tick whose decision provides capacity for it.

After every tick, :class:`DecisionLatency` packs the snapshot's idle jobs (the planner's own
:func:`~framework.planner.packing.pack`: largest shapes first) onto the capacity the planner
saw (free slots of startds not draining, whole slots of executors still starting) with
room for exactly the launches decided; the first ``placed`` jobs of each shape in queue
order count as provided for. A job the existing capacity covered the first time it was
seen needed no launch and is left out; every other job yields one sample: decision time −
first seen (ticks it was held back by ``max_launches_per_tick``, cooldowns, limits or a
stale snapshot) + the CPU time of the tick that decided it. A job that started before any
decision provided for it (a slot freed up) yields none. Seconds.
"""
from __future__ import annotations

import math
from collections import Counter

from ...monitor import PoolSnapshot
from ...planner import Decision, Executor, PlannerState, TaskState
from ...planner.packing import pack
from .model import Job


class DecisionLatency:
    """Samples of demand visible → launch decision (see the module docstring)."""

    def __init__(self, slot: tuple[float, float], sites: list[str]) -> None:
        self.slot, self.sites = slot, list(sites)
        self.first_seen: dict[int, float] = {}
        self.waiting: dict[int, float] = {}          # job id → first seen, no capacity yet
        self.samples: list[float] = []
        self.without_launch = 0                      # covered by capacity at first sight

    def observe(self, snapshot: PoolSnapshot, idle: list[Job], executors: list[Executor],
                state: PlannerState, decision: Decision, cpu_s: float) -> None:
        """One tick: its snapshot, the queue's idle jobs then (queue order), the executors
        and planner state the planner was given, its decision, the tick's CPU seconds."""
        now = snapshot.taken_at
        if not snapshot.fresh:
            return                      # old data: no job is seen, none provided for
        free = self._capacity(snapshot, executors, state)
        none = {s: 0 for s in self.sites}
        existing = pack(snapshot.idle_jobs, free, self.slot, none, self.sites).placed
        room = {s: decision.launches.get(s, 0) for s in self.sites}
        total = pack(snapshot.idle_jobs, free, self.slot, room, self.sites).placed
        index: Counter = Counter()
        queued = set()
        for job in idle:
            key = (job.cpus, job.memory, job.site)
            i = index[key]
            index[key] += 1
            queued.add(job.id)
            if job.id not in self.first_seen:
                self.first_seen[job.id] = now
                if i < existing[key]:
                    self.without_launch += 1
                    continue
                self.waiting[job.id] = now
            if job.id in self.waiting and i < total[key]:
                self.samples.append(now - self.waiting.pop(job.id) + cpu_s)
        for job_id in [j for j in self.waiting if j not in queued]:
            del self.waiting[job_id]                 # it started on a slot that freed up

    def _capacity(self, snapshot: PoolSnapshot, executors: list[Executor],
                  state: PlannerState) -> Counter:
        """The planner's view of usable capacity (framework/planner/planner.py)."""
        by_task = snapshot.by_task()
        free: Counter = Counter()
        for e in executors:
            if e.state is TaskState.KILLING:
                continue
            ad = by_task.get(e.task_id)
            if ad is not None and not ad.draining and e.task_id not in state.drains:
                free[(e.site, ad.cpus_free, ad.memory_free)] += 1
            elif ad is None:
                free[(e.site, self.slot[0], self.slot[1])] += 1
        return free

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the samples, nearest rank; 0 without samples."""
        if not self.samples:
            return 0.0
        ranked = sorted(self.samples)
        return ranked[min(len(ranked) - 1, max(0, math.ceil(q * len(ranked)) - 1))]

