"""htcmesos' elastic policy against three baselines, on the same seeded traces, one run.

Every policy drives the same simulated pool (framework/sim/pool: seeded discrete-event
HTCondor pool, timings calibrated against the real one) through the same interfaces:

- **htcmesos**: the production ElasticLoop (monitor → planner → actuator), drains before
  it removes;
- **static**: a pool sized once at the trace's mean demand (cores), never changed;
- **CLUES-style**: one node per pending job, a node off (killed, no drain) once idle for
  the idle time, as CLUES' power manager does;
- **COBalD**: ``cobald.controller.linear.LinearController`` (``pip install cobald``) on a
  COBalD ``Pool`` over the simulated pool (demand = executors wanted; idle ones removed
  first when it falls), as TARDIS runs it.

Decisions are applied ``--act-delay`` seconds after the data they rest on (queries and
planning take time), so jobs can land on nodes a policy just chose to remove. Printed per
trace and policy: idle provisioned core-time (core·h and % of provisioned), mean and 95th
percentile extra queue wait (beyond the next negotiation cycle), running jobs killed, peak
executors, seconds to release the empty executors after the last job; then htcmesos'
ratio to each baseline. ``--scale-in-events N`` runs the race scenario until N drains;
``--tick-cost`` times one tick over 10,000 startds and 100,000 idle jobs.
"""
from __future__ import annotations

import argparse
import math
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.elastic import ElasticLoop  # noqa: E402
from framework.planner import TaskState  # noqa: E402
from framework.sim.pool import Job, SimPool, Timings  # noqa: E402
from framework.sim.pool.run import simulate  # noqa: E402
from framework.sim.pool.workloads import bursty, diurnal, steady  # noqa: E402
from framework.spec import parse_spec  # noqa: E402

SPEC = """
pool: {{name: bench, trust_domain: b.example, signing_key_file: k, negotiator_interval: 10}}
sites:
  - {{name: dc, calico: {{network: n1, cidr: 10.1.0.0/16}}, executors: {{min: 0, max: 400}}}}
  - {{name: campus, private: true, calico: {{network: n2, cidr: 10.2.0.0/16}},
     executors: {{min: 0, max: 200}}}}
roles:
  master: {{image: m, cpus: 1, mem: 512}}
  submitter: {{image: s, cpus: 1, mem: 512}}
  executor: {{image: e, cpus: {cpus}, mem: {mem}}}
autoscaling: {{min_executors: 0, max_executors: 600, max_launches_per_tick: 100,
              idle_before_scale_in: {idle}, scale_up_cooldown: 30, scale_down_cooldown: 30,
              tick: {tick}}}
backend: {{type: sim}}
"""


def spec_for(cpus: int, mem: int, idle: float, tick: float):
    return parse_spec(SPEC.format(cpus=cpus, mem=mem, idle=idle, tick=tick))


# -- the baselines ---------------------------------------------------------------------

class Static:
    """Sized once at the trace's mean demand."""

    def __init__(self, pool: SimPool, jobs: list[Job], slot_cpus: float) -> None:
        span = max(j.submit + j.runtime for j in jobs) - min(j.submit for j in jobs)
        mean_cores = sum(j.cpus * j.runtime for j in jobs) / max(span, 1.0)
        self.size = max(1, math.ceil(mean_cores / slot_cpus))
        pool.set_desired(pool.sites[0], self.size)
        self.pool = pool

    def tick(self, now: float) -> None:
        self.pool.advance(now)


class CluesStyle:
    """One node per pending job; nodes off (killed) after ``idle_s`` idle, no drain."""

    def __init__(self, pool: SimPool, idle_s: float, delay_s: float) -> None:
        self.pool, self.idle_s, self.delay_s = pool, idle_s, delay_s

    def tick(self, now: float) -> None:
        snap = self.pool.snapshot(now)
        booting = sum(1 for e in self.pool.executors() if e.state is TaskState.STARTING)
        idle_nodes = [s for s in snap.startds if s.claims == 0]
        pending = snap.idle_job_count()
        self.pool.advance(now + self.delay_s)
        by_site: dict[str, int] = {}
        for shape in snap.idle_jobs:
            site = shape.site or self.pool.sites[0]
            by_site[site] = by_site.get(site, 0) + shape.count
        missing = max(0, pending - booting - len(idle_nodes))
        for site, count in by_site.items():
            share = min(count, missing)
            missing -= share
            alive = sum(1 for e in self.pool.executors() if e.site == site)
            self.pool.set_desired(site, alive + share)
        for startd in idle_nodes:
            if startd.idle_since is not None and now - startd.idle_since >= self.idle_s:
                self.pool.kill(startd.task_id)
                self.pool.desired[startd.site] = max(0, self.pool.desired[startd.site] - 1)


class CobaldPool:
    """A COBalD Pool over the simulated pool (one site)."""

    def __init__(self, pool: SimPool, site: str) -> None:
        self.pool, self.site, self._demand = pool, site, 0.0

    @property
    def supply(self) -> float:
        return sum(1 for e in self.pool.executors() if e.state is TaskState.RUNNING)

    @property
    def demand(self) -> float:
        return self._demand

    @demand.setter
    def demand(self, value: float) -> None:
        self._demand = max(0.0, value)
        want = int(round(self._demand))
        alive = [e for e in self.pool.executors()]
        if want > len(alive):
            self.pool.set_desired(self.site, want)
        else:
            idle = [n for n in self.pool.nodes.values() if n.booted and not n.jobs]
            for node in idle[:len(alive) - want]:
                self.pool.kill(node.task_id)
            self.pool.desired[self.site] = want

    @property
    def utilisation(self) -> float:
        nodes = [n for n in self.pool.nodes.values() if n.booted]
        total = sum(n.cpus for n in nodes)
        return sum(n.used_cpus for n in nodes) / total if total else 1.0

    @property
    def allocation(self) -> float:
        nodes = [n for n in self.pool.nodes.values() if n.booted]
        if not nodes:
            return 1.0 if self.pool.snapshot(self.pool.now).idle_jobs else 0.0
        return sum(1 for n in nodes if n.jobs) / len(nodes)


class Cobald:
    def __init__(self, pool: SimPool, tick: float, delay_s: float) -> None:
        from cobald.controller.linear import LinearController
        from cobald.interfaces import Pool

        Pool.register(CobaldPool)
        self.pool, self.tick_s, self.delay_s = pool, tick, delay_s
        self.target = CobaldPool(pool, pool.sites[0])
        self.controller = LinearController(self.target, low_utilisation=0.9,
                                           high_allocation=0.9, rate=1, interval=tick)

    def tick(self, now: float) -> None:
        self.pool.advance(now + self.delay_s)
        self.controller.regulate(self.tick_s)


def run_baseline(make, jobs: list[Job], slot, timings: Timings, tick: float,
                 sites: list[str]) -> SimPool:
    pool = SimPool(sites, slot, [Job(j.id, j.submit, j.runtime, j.cpus, j.memory,
                                     j.site if j.site in sites else None) for j in jobs],
                   timings)
    policy = make(pool)
    horizon = max(j.submit for j in jobs) + 3 * 86400
    now = 0.0
    while now <= horizon:
        policy.tick(now)
        if pool.done() and (isinstance(policy, Static) or not pool.executors()):
            break
        now += tick
    pool.advance(now)
    return pool


# -- figures -----------------------------------------------------------------------------

def figures(pool: SimPool, jobs: list[Job], release: float | None) -> dict:
    m = pool.metrics
    extra = sorted(m.extra_waits) or [0.0]
    return {"idle_core_h": m.idle_core_s / 3600, "idle_pct": 100 * m.idle_fraction,
            "extra_mean": statistics.mean(extra), "extra_p95": extra[int(0.95 * (len(extra) - 1))],
            "killed": m.killed_running, "peak": m.peak_executors, "release": release,
            "done": sum(1 for j in pool.jobs.values() if j.end is not None), "jobs": len(jobs)}


def release_time(pool: SimPool) -> float | None:
    last = max((j.end for j in pool.jobs.values() if j.end is not None), default=None)
    return None if last is None else max(0.0, pool.now - last)


def traces(seed: int, sites: tuple[str, ...]) -> dict[str, list[Job]]:
    return {
        "bursty (4 waves × 400)": bursty(seed, 4, 400, 3600, runtime_s=600, sites=sites,
                                          site_share=0.3),
        "steady (0.2/s, 6 h)": steady(seed, 6 * 3600, 0.2, runtime_s=900, sites=sites,
                                      site_share=0.3),
        "diurnal (1 day)": diurnal(seed, 86400, 0.05, runtime_s=1200, sites=sites,
                                   site_share=0.3),
    }


def compare(args: argparse.Namespace) -> None:
    spec = spec_for(args.cpus, args.cpus * 4096, args.idle, args.tick)
    timings = Timings(boot_s=args.boot, claim_s=1.0, negotiation_s=10.0)
    slot = (float(args.cpus), float(args.cpus * 4096))
    sites = [s.name for s in spec.sites]
    print(f"executor slot {args.cpus} cores; tick {args.tick:g} s; idle time {args.idle:g} s; "
          f"decisions applied {args.act_delay:g} s after their data; boot {args.boot:g} s, "
          f"negotiation 10 s")
    header = (f"{'policy':<12} {'idle core·h':>11} {'idle %':>7} {'extra wait mean':>15} "
              f"{'p95':>7} {'killed':>6} {'peak':>5} {'release s':>9} {'done':>11}")
    for name, jobs in traces(args.seed, tuple(sites)).items():
        print(f"\n== {name}: {len(jobs)} jobs")
        print(header)
        rows = {}
        result = simulate(spec, jobs, timings, act_delay_s=args.act_delay)
        pool_like = type("P", (), {"metrics": result.metrics, "jobs": {j.id: j for j in result.jobs},
                                   "now": result.end})()
        rows["htcmesos"] = figures(pool_like, jobs, release_time(pool_like))
        baselines = {
            "static": lambda p: Static(p, jobs, slot[0]),
            "CLUES-style": lambda p: CluesStyle(p, args.idle, args.act_delay),
            "COBalD": lambda p: Cobald(p, args.tick, args.act_delay),
        }
        for label, make in baselines.items():
            pool = run_baseline(make, jobs, slot, timings, args.tick,
                                sites if label != "COBalD" and label != "static" else sites[:1])
            rows[label] = figures(pool, jobs, release_time(pool) if label != "static" else None)
        for label, r in rows.items():
            rel = "—" if r["release"] is None else f"{r['release']:.0f}"
            print(f"{label:<12} {r['idle_core_h']:>11.1f} {r['idle_pct']:>6.1f}% "
                  f"{r['extra_mean']:>14.1f}s {r['extra_p95']:>6.1f}s {r['killed']:>6} "
                  f"{r['peak']:>5} {rel:>9} {r['done']:>5}/{r['jobs']:<5}")
        ours = rows["htcmesos"]
        for label in ("static", "CLUES-style", "COBalD"):
            other = rows[label]
            ratio = lambda a, b: (a / b) if b else float("inf") if a else 1.0  # noqa: E731
            print(f"  htcmesos / {label:<11}: idle core-time {ratio(ours['idle_core_h'], other['idle_core_h']):.2f}×, "
                  f"mean extra wait {ratio(ours['extra_mean'], other['extra_mean']):.2f}×, "
                  f"p95 {ratio(ours['extra_p95'], other['extra_p95']):.2f}×")


def scale_in_events(target: int) -> None:
    spec = parse_spec("""
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 5}
sites: [{name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 0, max: 200}}]
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 1, mem: 2048}
autoscaling: {min_executors: 0, max_executors: 200, max_launches_per_tick: 50,
              idle_before_scale_in: 0, scale_up_cooldown: 0, scale_down_cooldown: 0, tick: 5}
backend: {type: sim}
""")
    duration = 20000 * target / 3525 * 1.05
    jobs = steady(3, duration_s=duration, rate=0.5, runtime_s=20, shapes=((1, 1024, 1),))
    begin = time.process_time()
    result = simulate(spec, jobs, Timings(boot_s=5, claim_s=1, negotiation_s=5), act_delay_s=5.0)
    m = result.metrics
    print(f"\n== scale-in under racing claims: {m.drains} drains ({m.claims_during_drain} raced "
          f"by a claim, {m.drains_cancelled} cancelled), {m.killed_executors} executors "
          f"removed, running jobs killed: {m.killed_running}; {len(jobs)} jobs, "
          f"{time.process_time() - begin:.0f} s CPU")


def tick_cost() -> None:
    spec = parse_spec(SPEC.format(cpus=4, mem=16384, idle=600, tick=10).replace(
        "max: 400", "max: 12000").replace("max_executors: 600", "max_executors: 12000"))
    jobs = [Job(i, 0.0, 3600.0, 1 + i % 4, 1024.0 * (1 + i % 4), "dc" if i % 3 else None)
            for i in range(100_000)]
    pool = SimPool(["dc", "campus"], (4.0, 16384.0), jobs, Timings(boot_s=0, negotiation_s=1e9))
    pool.set_desired("dc", 10_000)
    pool.advance(1.0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loop = ElasticLoop(spec, pool, pool, pool)
    samples = []
    for i in range(5):
        begin = time.process_time()
        snap = pool.snapshot(2.0 + i)
        t_snap = time.process_time() - begin
        begin = time.process_time()
        from framework.planner import plan
        plan(snap, pool.executors(), spec, loop.state, 2.0 + i)
        samples.append((time.process_time() - begin, t_snap))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plan_s = statistics.median(s for s, _ in samples)
    base_s = statistics.median(t for _, t in samples)
    print(f"\n== one tick over {len(pool.executors())} startds and {len(jobs)} idle jobs: plan "
          f"{plan_s * 1000:.0f} ms CPU (target ≤ 200 ms), the simulated monitor's own snapshot "
          f"{base_s * 1000:.0f} ms (ratio plan/snapshot {plan_s / base_s:.2f}); peak RSS "
          f"{rss / 1024:.0f} MB (+{(rss - rss0) / 1024:.0f} MB for the tick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpus", type=int, default=4, help="executor slot cores")
    parser.add_argument("--idle", type=float, default=60.0, help="idle time before removal")
    parser.add_argument("--tick", type=float, default=10.0)
    parser.add_argument("--boot", type=float, default=5.0)
    parser.add_argument("--act-delay", type=float, default=2.0)
    parser.add_argument("--scale-in-events", type=int, default=0)
    parser.add_argument("--tick-cost", action="store_true")
    args = parser.parse_args()
    compare(args)
    if args.scale_in_events:
        scale_in_events(args.scale_in_events)
    if args.tick_cost:
        tick_cost()


if __name__ == "__main__":
    main()
