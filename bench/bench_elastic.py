"""htcmesos' elastic policy against three baselines, on the same seeded traces, one run.

Every policy drives the same simulated pool (framework/sim/pool: seeded discrete-event
HTCondor pool, timings calibrated against the real one) through the same interfaces:

- **htcmesos**: the production ElasticLoop (monitor → planner → actuator), drains before
  it removes, with ``autoscaling.executor_size: jobs`` (an executor per job, of its size);
  the rows below it are the same loop with executors of the role's size (4 cores), and
  that on HTCondor's stock negotiator (``NEGOTIATOR_DEPTH_FIRST`` off);
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
import dataclasses
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
from framework.sim.pool.run import simulate, simulate_races  # noqa: E402
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

def figures(metrics, jobs: list[Job], done: int, release: float | None) -> dict:
    m = metrics
    extra = sorted(m.extra_waits) or [0.0]
    total = m.idle_core_s + m.busy_core_s
    return {"idle_core_h": m.idle_core_s / 3600, "idle_pct": 100 * m.idle_fraction,
            "extra_mean": statistics.mean(extra), "extra_p95": extra[int(0.95 * (len(extra) - 1))],
            "killed": m.killed_running, "peak": m.peak_executors, "release": release,
            "done": done, "jobs": len(jobs),
            "causes": {k: 100 * v / total if total else 0.0 for k, v in m.idle_by_cause.items()}}


def pool_figures(pool: SimPool, jobs: list[Job], release: bool) -> dict:
    ends = [j.end for j in pool.jobs.values() if j.end is not None]
    gone = max(0.0, pool.now - max(ends)) if ends and release else None
    return figures(pool.metrics, jobs, len(ends), gone)


def result_figures(result, jobs: list[Job]) -> dict:
    ends = [j.end for j in result.jobs if j.end is not None]
    return figures(result.metrics, jobs, len(ends), max(0.0, result.end - max(ends)) if ends else None)


def fragmentation_reference(jobs: list[Job], slot_cpus: float, slot_mem: float) -> float:
    """Idle % of the same jobs started the instant they arrive on executors of this size
    that appear and vanish at no cost (no boot, no idle time, no drain): each job goes to
    the executor with the fewest free cores it fits (HTCondor's default rank), a new one
    when none fits; an executor lives from its first job's start to its last job's end.
    What is left is fragmentation alone: cores freed by jobs that ended on executors
    still running others, which no policy can hand back without killing those jobs."""
    live: list[dict] = []
    provisioned = busy = 0.0
    for job in sorted(jobs, key=lambda j: (j.submit, j.id)):
        now = job.submit
        for ex in list(live):
            for end, cpus, mem in [r for r in ex["run"] if r[0] <= now]:
                ex["run"].remove((end, cpus, mem))
                ex["cpus"] += cpus
                ex["mem"] += mem
            if not ex["run"]:                  # empty since its last job ended: gone
                provisioned += slot_cpus * (ex["last"] - ex["opened"])
                live.remove(ex)
        fits = [e for e in live if e["cpus"] + 1e-9 >= job.cpus and e["mem"] + 1e-9 >= job.memory
                and (job.site is None or e["site"] == job.site)]
        if fits:
            ex = min(fits, key=lambda e: 100000 * e["cpus"] + e["mem"])
        else:
            ex = {"cpus": slot_cpus, "mem": slot_mem, "site": job.site, "run": [],
                  "opened": now, "last": now}
            live.append(ex)
        ex["cpus"] -= job.cpus
        ex["mem"] -= job.memory
        ex["run"].append((now + job.runtime, job.cpus, job.memory))
        ex["last"] = max(ex["last"], now + job.runtime)
        busy += job.cpus * job.runtime
    provisioned += sum(slot_cpus * (ex["last"] - ex["opened"]) for ex in live)
    return 100 * (provisioned - busy) / provisioned if provisioned else 0.0


def traces(seed: int, sites: tuple[str, ...]) -> dict[str, list[Job]]:
    return {
        "bursty (4 waves × 400)": bursty(seed, 4, 400, 3600, runtime_s=600, sites=sites,
                                          site_share=0.3),
        "steady (0.2/s, 6 h)": steady(seed, 6 * 3600, 0.2, runtime_s=900, sites=sites,
                                      site_share=0.3),
        "diurnal (1 day)": diurnal(seed, 86400, 0.05, runtime_s=1200, sites=sites,
                                   site_share=0.3),
    }


CAUSES = ("boot", "unmatched", "empty", "draining", "fragmented")
MET = {True: "met", False: "NOT met"}


def _row(label: str, r: dict) -> str:
    rel = "—" if r["release"] is None else f"{r['release']:.0f}"
    causes = " ".join(f"{r['causes'][c]:>5.1f}" for c in CAUSES)
    return (f"{label:<14} {r['idle_core_h']:>7.1f} {r['idle_pct']:>6.1f}% {r['extra_mean']:>7.1f}s "
            f"{r['extra_p95']:>6.1f}s {r['killed']:>6} {r['peak']:>4} {rel:>7} "
            f"{r['done']:>5}/{r['jobs']:<5}| {causes}")


def _pct(values: list[float], q: float) -> float:
    ranked = sorted(values) or [0.0]
    return ranked[min(len(ranked) - 1, max(0, math.ceil(q * len(ranked)) - 1))]


def fresh(jobs: list[Job]) -> list[Job]:
    """Unrun copies: a simulated pool writes each job's start and end into its record."""
    return [Job(j.id, j.submit, j.runtime, j.cpus, j.memory, j.site) for j in jobs]


def _with(spec, **autoscaling):
    return dataclasses.replace(spec, autoscaling=dataclasses.replace(spec.autoscaling,
                                                                     **autoscaling))


def compare(args: argparse.Namespace) -> None:
    slot_spec = _with(spec_for(args.cpus, args.cpus * 4096, args.idle, args.tick),
                      max_launches_per_tick=args.max_launches)
    spec = _with(slot_spec, executor_size="jobs")
    timings = Timings(boot_s=args.boot, claim_s=1.0, negotiation_s=10.0)
    slot = (float(args.cpus), float(args.cpus * 4096))
    sites = [s.name for s in spec.sites]
    budget = args.boot + timings.negotiation_s
    print(f"executor slot {args.cpus} cores; tick {args.tick:g} s; idle time {args.idle:g} s; "
          f"max_launches_per_tick {args.max_launches}; decisions applied {args.act_delay:g} s "
          f"after their data; boot {args.boot:g} s, negotiation 10 s; negotiator: fewest free "
          f"cores first (HTCondor's default NEGOTIATOR_PRE_JOB_RANK), NEGOTIATOR_DEPTH_FIRST "
          f"as htcmesos configures it (True) unless the row says otherwise")
    print("idle by cause, % of provisioned core-time: boot = launched, not advertised; "
          "unmatched = empty while jobs queue; empty = before scale-in; draining; "
          "fragmented = free cores of startds holding claims")
    header = (f"{'policy':<14} {'idle':>7} {'idle':>7} {'extra wait':>8} {'':>7} "
              f"{'killed':>6} {'peak':>4} {'release':>7} {'done':>11}| idle by cause (%)\n"
              f"{'':<14} {'core·h':>7} {'%':>7} {'mean':>8} {'p95':>7} {'':>6} {'':>4} "
              f"{'s':>7} {'':>11}| " + " ".join(f"{c[:5]:>5}" for c in CAUSES))
    for name, jobs in traces(args.seed, tuple(sites)).items():
        print(f"\n== {name}: {len(jobs)} jobs")
        print(header)
        rows = {}
        result = simulate(spec, fresh(jobs), timings, act_delay_s=args.act_delay)
        rows["htcmesos"] = result_figures(result, jobs)
        rows[f"  {args.cpus}-core"] = result_figures(
            simulate(slot_spec, fresh(jobs), timings, act_delay_s=args.act_delay), jobs)
        stock = simulate(slot_spec, fresh(jobs), timings, act_delay_s=args.act_delay,
                         depth_first=False)
        rows["  … DF off"] = result_figures(stock, jobs)
        baselines = {
            "static": lambda p: Static(p, jobs, slot[0]),
            "CLUES-style": lambda p: CluesStyle(p, args.idle, args.act_delay),
            "COBalD": lambda p: Cobald(p, args.tick, args.act_delay),
        }
        for label, make in baselines.items():
            pool = run_baseline(make, jobs, slot, timings, args.tick,
                                sites if label != "COBalD" and label != "static" else sites[:1])
            rows[label] = pool_figures(pool, jobs, release=label != "static")
        for label, r in rows.items():
            print(_row(label, r))
        ours = rows["htcmesos"]
        floor = fragmentation_reference(jobs, *slot)
        print(f"  (htcmesos: executor_size jobs; {args.cpus}-core: executor_size slot, "
              f"executors of {args.cpus} cores; DF off: that on HTCondor's stock negotiator, "
              f"NEGOTIATOR_DEPTH_FIRST = False)\n  fragmentation reference: the same jobs "
              f"started on arrival on "
              f"{args.cpus}-core executors that come and go at no cost (best fit): "
              f"{floor:.1f}% idle")
        sweep = []
        for idle_s in args.sweep:
            r = result_figures(simulate(_with(spec, idle_before_scale_in_s=idle_s), fresh(jobs),
                                        timings, act_delay_s=args.act_delay), jobs)
            sweep.append(f"{idle_s:g} s {r['idle_pct']:.1f}% / {r['extra_mean']:.1f} s")
        print("  htcmesos, idle_before_scale_in → idle % / mean extra wait: " + "; ".join(sweep))
        lat = result.latency
        held = {c: result.codes[c] for c in ("LAUNCH_LIMIT", "COOLDOWN", "SITE_MAX",
                                             "POOL_MAX", "STALE") if result.codes.get(c)}
        seen = [lat.first_seen[j.id] - j.submit for j in result.jobs if j.id in lat.first_seen]
        p99 = lat.percentile(0.99)
        print(f"  demand visible → launch decision: {len(lat.samples)} jobs needed a launch "
              f"({lat.without_launch} more fit capacity when first seen); p50 "
              f"{lat.percentile(0.5) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; plan() CPU p99 "
              f"{_pct(result.plan_cpu_s, 0.99) * 1000:.1f} ms; "
              f"launches held back: {held or 'never'}; submit → first seen p99 "
              f"{_pct(seen, 0.99):.1f} s (the tick interval)")
        if held.get("LAUNCH_LIMIT"):
            more = 2 * args.max_launches
            again = simulate(_with(spec, max_launches_per_tick=more), fresh(jobs), timings,
                             act_delay_s=args.act_delay)
            r = result_figures(again, jobs)
            print(f"  with max_launches_per_tick {more}: idle {r['idle_pct']:.1f}%, extra wait "
                  f"mean {r['extra_mean']:.1f} s, p95 {r['extra_p95']:.1f} s; demand visible → "
                  f"launch decision p99 {again.latency.percentile(0.99) * 1000:.1f} ms")
        print("  targets:")
        print(f"    idle core-time ≤ 5%: {ours['idle_pct']:.1f}% {MET[ours['idle_pct'] <= 5]}")
        for what in ("extra_mean", "extra_p95"):
            print(f"    extra wait {what[6:]} ≤ container start + one negotiation cycle "
                  f"({budget:g} s): {ours[what]:.1f} s {MET[ours[what] <= budget]}")
        rel = ours["release"]
        print(f"    empty executors released ≤ 120 s after the last job: "
              f"{'—' if rel is None else f'{rel:.0f} s'} {MET[rel is not None and rel <= 120]}")
        print(f"    demand visible → launch decision p99 ≤ 1 s: {p99:.3f} s {MET[p99 <= 1.0]}")
        ratio = lambda a, b: (a / b) if b else float("inf") if a else 1.0  # noqa: E731
        for label in ("static", "CLUES-style", "COBalD"):
            other = rows[label]
            parts = [f"{title} {ratio(ours[key], other[key]):.2f}× "
                     f"{MET[ours[key] <= other[key] + 1e-9]}"
                     for title, key in (("idle core-time", "idle_core_h"),
                                        ("mean extra wait", "extra_mean"),
                                        ("p95", "extra_p95"))]
            print(f"    htcmesos / {label:<11} ≤ 1: " + ", ".join(parts))


def scale_in_events(target: int) -> None:
    duration = 20000 * target / 3497 * 1.05        # 3,497 drain decisions per 20,000 s
    begin = time.process_time()
    result = simulate_races(duration)
    jobs, m = result.jobs, result.metrics
    print(f"\n== scale-in under racing claims: {result.codes.get('DRAIN', 0)} drain decisions "
          f"({m.claims_during_drain} refused by the startd: a claim raced them; {m.drains} "
          f"drained, {m.drains_cancelled} cancelled), {m.killed_executors} executors removed, "
          f"running jobs killed: {m.killed_running}; {len(jobs)} jobs, "
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
          f"{plan_s * 1000:.0f} ms CPU (target ≤ 200 ms: {MET[plan_s <= 0.2]}), the simulated "
          f"monitor's own snapshot {base_s * 1000:.0f} ms (ratio plan/snapshot "
          f"{plan_s / base_s:.2f}); peak RSS {rss / 1024:.0f} MB (target ≤ 200 MB: "
          f"{MET[rss / 1024 <= 200]}; +{(rss - rss0) / 1024:.0f} MB for the tick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpus", type=int, default=4, help="executor slot cores")
    parser.add_argument("--idle", type=float, default=60.0, help="idle time before removal")
    parser.add_argument("--tick", type=float, default=10.0)
    parser.add_argument("--boot", type=float, default=5.0)
    parser.add_argument("--act-delay", type=float, default=2.0)
    parser.add_argument("--max-launches", type=int, default=400,
                        help="htcmesos' autoscaling.max_launches_per_tick (executors sized "
                             "to jobs: one launch per job of a wave)")
    parser.add_argument("--sweep", type=lambda v: [float(x) for x in v.split(",") if x],
                        default=[30.0, 120.0, 600.0],
                        help="idle_before_scale_in values (s) to rerun htcmesos with")
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
