"""Run the production elastic loop (monitor → planner → actuator) on the simulated pool.

:func:`simulate` drives :class:`~framework.elastic.ElasticLoop` with a
:class:`~.pool.SimPool` as monitor, backend and pool control, on simulated time. The
decision of a tick is carried out ``act_delay_s`` after its snapshot was taken (the
query and the planning take time in a real pool), so negotiation cycles can match jobs
onto startds the planner just chose to drain: the race a drain must survive. Every tick
also feeds :class:`~.latency.DecisionLatency` (demand visible → launch decision) with the
CPU time of ``plan()`` on that tick's inputs (timed in a second, identical call: it is pure).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ...condor.config import NEGOTIATOR_DEPTH_FIRST
from ...elastic import ElasticLoop
from ...model import Role
from ...monitor import PoolMonitor, PoolSnapshot
from ...planner import Code, Decision, Executor, plan
from ...spec import ClusterSpec
from .latency import DecisionLatency
from .model import Job, Timings
from .pool import Metrics, SimPool


class _Delayed(PoolMonitor):
    """The pool's snapshot, then the clock moves on before the decision is applied; keeps
    what the tick saw (its snapshot, the idle jobs then, the executors)."""

    def __init__(self, pool: SimPool, delay_s: float) -> None:
        self.pool, self.delay_s = pool, delay_s
        self.last: PoolSnapshot | None = None
        self.idle: list[Job] = []
        self.executors: list[Executor] = []

    def snapshot(self, now: float) -> PoolSnapshot:
        snap = self.pool.snapshot(now)
        self.idle = self.pool.idle_jobs()
        if self.delay_s:
            self.pool.advance(now + self.delay_s)
        self.last, self.executors = snap, self.pool.executors()    # what the planner gets
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
    latency: DecisionLatency | None = None                   # demand visible → decision
    plan_cpu_s: list[float] = field(default_factory=list)    # plan() per tick, CPU s

    @property
    def done(self) -> int:
        return sum(1 for j in self.jobs if j.end is not None)


def simulate(spec: ClusterSpec, jobs: list[Job], timings: Timings | None = None,
             tick_s: float | None = None, act_delay_s: float = 0.0,
             until: float | None = None, outages: tuple[tuple[float, float], ...] = (),
             keep_decisions: bool = False, depth_first: bool | None = None) -> Result:
    """Run until every job ended (and the pool shrank back) or ``until``;
    ``depth_first`` overrides the rendered NEGOTIATOR_DEPTH_FIRST."""
    timings = timings or Timings(negotiation_s=spec.pool.negotiator_interval_s)
    role = spec.roles[Role.EXECUTOR]
    slot = (float(max(1, int(role.cpus))), float(role.mem_mb))
    sites = [s.name for s in spec.sites]
    pool = SimPool(sites, slot, jobs, timings, depth_first=NEGOTIATOR_DEPTH_FIRST
                   if depth_first is None else depth_first)
    for start, end in outages:
        pool.outage(start, end)
    monitor = _Delayed(pool, act_delay_s)
    loop = ElasticLoop(spec, monitor, pool, pool)
    latency = DecisionLatency(slot, sites)
    cpu: list[float] = []
    tick = tick_s or spec.autoscaling.tick_s
    last_arrival = max((j.submit for j in jobs), default=0.0)
    horizon = until if until is not None else last_arrival + 10 * 86400
    codes: dict[str, int] = {}
    decisions = []
    now, ticks = 0.0, 0
    for site in spec.sites:
        pool.set_desired(site.name, site.executors_min)
    while now <= horizon:
        state = loop.state
        decision = loop.tick(now)
        begin = time.process_time()              # plan() again on the same inputs (pure)
        plan(monitor.last, monitor.executors, spec, state, now)
        cpu.append(time.process_time() - begin)
        latency.observe(monitor.last, monitor.idle, monitor.executors, state, decision, cpu[-1])
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
                  pool.now, codes, decisions, latency, cpu)


def _shrunk(pool: SimPool, spec: ClusterSpec, decision: Decision) -> bool:
    """Back at the minimum, nothing draining: the run is over."""
    floor = {s.name: s.executors_min for s in spec.sites}
    alive = {s: 0 for s in floor}
    for ex in pool.executors():
        alive[ex.site] += 1
    return all(alive[s] <= floor[s] for s in floor) and not decision.state.drains \
        or Code.MINIMUM in decision.codes() and not decision.state.drains


#: Claims racing drains: one site of single-core executors, nothing idle kept, drains
#: applied one negotiation cycle after the snapshot they were decided on
RACE_SPEC = """
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 5}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 0, max: 200}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 1, mem: 2048}
autoscaling: {min_executors: 0, max_executors: 200, max_launches_per_tick: 50,
              idle_before_scale_in: 0, scale_up_cooldown: 0, scale_down_cooldown: 0, tick: 5}
backend: {type: sim}
"""


def simulate_races(duration_s: float) -> Result:
    """The race scenario (:data:`RACE_SPEC`): a steady stream (seed 3) of 20 s one-core
    jobs for ``duration_s``, so jobs keep landing on startds just chosen for removal."""
    from ...spec import parse_spec
    from .workloads import steady

    jobs = steady(3, duration_s=duration_s, rate=0.5, runtime_s=20, shapes=((1, 1024, 1),))
    return simulate(parse_spec(RACE_SPEC, "race scenario"), jobs,
                    Timings(boot_s=5, claim_s=1, negotiation_s=5), act_delay_s=5.0)
