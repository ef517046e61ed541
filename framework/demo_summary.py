"""The real demo's figures: peak executors, idle core-time and queue waits.

:class:`Usage` is sampled by the demo's workload at every look at the queue (every ~2 s,
from before the first job until the pool has shrunk back): executors from the framework's
task records, running jobs from the schedd. Queue waits come from the jobs' own ClassAds
at the end (``QDate`` → ``JobStartDate``, queue and history). Times are seconds.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import mean
from typing import Iterable

from .autoscaler.lifecycle import Phase
from .backends.mesos.needs import TaskRecord
from .model import Role
from .sim.condorpool import SubmitHost

#: Executor tasks that hold resources: launched and not yet seen to end (killing included).
_PROVISIONED = (Phase.LAUNCHING, Phase.STARTING, Phase.RUNNING, Phase.KILLING)


def executors_by_site(records: Iterable[TaskRecord]) -> Counter:
    """Executor tasks per site that hold resources (see :data:`_PROVISIONED`)."""
    return Counter(r.site for r in records if r.role is Role.EXECUTOR and r.phase in _PROVISIONED)


@dataclass
class Usage:
    """Peak executors and idle core-time over a run, from samples of the pool.

    Idle core-time: at each sample, provisioned cores = executor tasks holding resources
    (launching, starting, running or being killed: a booting or draining executor costs
    as much as a busy one, see :func:`executors_by_site`) × the executor role's cpus;
    used cores = the schedd's running jobs on a live executor (not those of a lost agent,
    "running" until their lease ends) × their ``request_cpus`` (1 in the demo), at most
    the site's provisioned cores. Each sample holds until the next one (a left Riemann
    sum); idle = 1 − used / provisioned core-seconds.
    """

    cores_per_executor: float
    cores_per_job: float = 1.0
    peak: Counter = field(default_factory=Counter)      # site → most executors at once
    peak_total: int = 0
    provisioned_s: float = 0.0                          # core-seconds
    used_s: float = 0.0                                 # core-seconds
    _last: tuple[float, float, float] | None = None     # (time, provisioned, used) cores

    def sample(self, now: float, count: Counter, running: Counter) -> None:
        """One look at the pool at ``now`` (monotonic s): executors holding resources
        and jobs running on them, per site."""
        for site, n in count.items():
            self.peak[site] = max(self.peak[site], n)
        self.peak_total = max(self.peak_total, sum(count.values()))
        provisioned = sum(count.values()) * self.cores_per_executor
        used = sum(min(n * self.cores_per_job, count[site] * self.cores_per_executor)
                   for site, n in running.items())
        if self._last is not None:
            then, cores, busy = self._last
            self.provisioned_s += cores * (now - then)
            self.used_s += busy * (now - then)
        self._last = (now, provisioned, used)

    def idle_fraction(self) -> float | None:
        """Share of provisioned executor core-seconds no job used (None: none provisioned)."""
        if self.provisioned_s <= 0:
            return None
        return max(0.0, 1.0 - self.used_s / self.provisioned_s)


def queue_waits(host: SubmitHost, clusters: Iterable[int]) -> dict[str, float]:
    """Job id → seconds from ``QDate`` to ``JobStartDate`` (its first start), for the jobs
    of ``clusters`` that started (queue first, then history)."""
    wanted = set(clusters)
    fmt = "-af ClusterId ProcId QDate JobStartDate"
    out = host.run(f"condor_q -allusers {fmt}; condor_history {fmt}")
    waits: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            continue                              # a header, or never started ("undefined")
        cluster, proc, queued, started = (int(p) for p in parts)
        if cluster in wanted:
            waits.setdefault(f"{cluster}.{proc}", float(started - queued))
    return waits


def summary_lines(submitted: dict[str, int], completed: dict[str, int],
                  waits: dict[str, float], usage: Usage, shrank_at: float | None,
                  minimum: dict[str, int]) -> list[str]:
    """The summary the demo ends with (one figure per line)."""
    total, done = sum(submitted.values()), sum(completed.get(s, 0) for s in submitted)
    lines = [f"jobs done: {done} of {total}"]
    lines += [f"  jobs completed at site {site}: {completed.get(site, 0)} of {n}"
              for site, n in sorted(submitted.items())]
    if waits:
        lines.append(f"queue wait (QDate → JobStartDate, {len(waits)} jobs): mean "
                     f"{mean(waits.values()):.1f} s, max {max(waits.values()):.0f} s")
    else:
        lines.append("queue wait: not known (the demo stopped early, or no job started)")
    sites = ", ".join(f"{site} {usage.peak[site]}" for site in sorted(minimum))
    lines.append(f"peak executors: {sites}, total {usage.peak_total}")
    idle = usage.idle_fraction()
    lines.append("idle core-time: no executor was provisioned" if idle is None else
                 f"idle core-time: {idle:.0%} of {usage.provisioned_s:.0f} provisioned "
                 f"executor core-seconds ({usage.used_s:.0f} used by running jobs)")
    floor = ", ".join(f"{site} {n}" for site, n in sorted(minimum.items()))
    lines.append(f"pool shrank back to the minimum ({floor} executors) at t+{shrank_at:.1f}s"
                 if shrank_at is not None else
                 f"pool did NOT shrink back to the minimum ({floor} executors)")
    return lines
