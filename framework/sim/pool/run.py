"""Run the production elastic loop (monitor → planner → actuator) on the simulated pool.

:func:`simulate` drives :class:`~framework.elastic.ElasticLoop` with a
:class:`~.pool.SimPool` as monitor, backend and pool control, on simulated time. The
decision of a tick is carried out ``act_delay_s`` after its snapshot was taken (the
query and the planning take time in a real pool), so negotiation cycles can match jobs
onto startds the planner just chose to drain: the race a drain must survive.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...elastic import ElasticLoop
from ...model import Role
from ...monitor import PoolMonitor, PoolSnapshot
from ...planner import Code, Decision
from ...spec import ClusterSpec
from .model import Job, Timings
from .pool import Metrics, SimPool


class _Delayed(PoolMonitor):
    """The pool's snapshot, then the clock moves on before the decision is applied."""

    def __init__(self, pool: SimPool, delay_s: float) -> None:
        self.pool, self.delay_s = pool, delay_s

    def snapshot(self, now: float) -> PoolSnapshot:
        snap = self.pool.snapshot(now)
        if self.delay_s:
            self.pool.advance(now + self.delay_s)
        return snap


@dataclass
class Result:
    """What a simulated run did."""

    metrics: Metrics
    jobs: list[Job]
    ticks: int
    end: float
    codes: dict[str, int] = field(default_factory=dict)     # reason code → count
    decisions: list[Decision] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for j in self.jobs if j.end is not None)


def simulate(spec: ClusterSpec, jobs: list[Job], timings: Timings | None = None,
             tick_s: float | None = None, act_delay_s: float = 0.0,
             until: float | None = None, outages: tuple[tuple[float, float], ...] = (),
             keep_decisions: bool = False) -> Result:
    """Run until every job ended (and the pool shrank back) or ``until``."""
    timings = timings or Timings(negotiation_s=spec.pool.negotiator_interval_s)
    role = spec.roles[Role.EXECUTOR]
    pool = SimPool([s.name for s in spec.sites], (float(max(1, int(role.cpus))),
                                                  float(role.mem_mb)), jobs, timings)
    for start, end in outages:
        pool.outage(start, end)
    loop = ElasticLoop(spec, _Delayed(pool, act_delay_s), pool, pool)
    tick = tick_s or spec.autoscaling.tick_s
    last_arrival = max((j.submit for j in jobs), default=0.0)
    horizon = until if until is not None else last_arrival + 10 * 86400
    codes: dict[str, int] = {}
    decisions = []
    now, ticks = 0.0, 0
    for site in spec.sites:
        pool.set_desired(site.name, site.executors_min)
    while now <= horizon:
        decision = loop.tick(now)
        ticks += 1
        for reason in decision.reasons:
            codes[reason.code.value] = codes.get(reason.code.value, 0) + 1
        if keep_decisions:
            decisions.append(decision)
        if until is None and pool.done() and _shrunk(pool, spec, decision):
            break
        now += tick
    pool.advance(max(now, pool.now))
    return Result(pool.metrics, sorted(pool.jobs.values(), key=lambda j: j.id), ticks,
                  pool.now, codes, decisions)


def _shrunk(pool: SimPool, spec: ClusterSpec, decision: Decision) -> bool:
    """Back at the minimum, nothing draining: the run is over."""
    floor = {s.name: s.executors_min for s in spec.sites}
    alive = {s: 0 for s in floor}
    for ex in pool.executors():
        alive[ex.site] += 1
    return all(alive[s] <= floor[s] for s in floor) and not decision.state.drains \
        or Code.MINIMUM in decision.codes() and not decision.state.drains
