"""Workloads for the simulated pool: seeded generators and readers of real traces.

Generators (times in seconds from 0; ``seed`` makes them reproducible):

- :func:`steady`: Poisson arrivals at ``rate`` jobs/s;
- :func:`bursty`: ``waves`` waves of ``per_wave`` jobs, ``gap_s`` apart;
- :func:`diurnal`: a Poisson rate following a day's sine (peak at ``peak_at_s``).

Readers:

- :func:`read_history`: ``condor_history -json`` output (a JSON list of job ads): QDate,
  JobStartDate or JobCurrentStartDate, CompletionDate, RemoteWallClockTime, RequestCpus,
  RequestMemory (MiB), and our ``HTCMESOS_WANT_SITE``; submit times become relative;
- :func:`read_swf`: the Standard Workload Format (Parallel Workloads Archive): ``;``
  comments, 18 whitespace-separated fields per job: 2 submit time, 4 run time,
  5 allocated / 8 requested processors, 10 requested memory (KiB per processor),
  11 status (0 failed and 5 cancelled jobs that never ran are skipped), -1 = unknown.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Iterable

from ...errors import HtcmesosError
from .model import Job

#: Shapes drawn by the generators: (cpus, memory MiB, weight).
DEFAULT_SHAPES: tuple[tuple[float, float, float], ...] = ((1, 1024, 0.7), (2, 2048, 0.2),
                                                          (4, 4096, 0.1))


class TraceError(HtcmesosError):
    """A trace file cannot be read; the message names the file and the line or job."""


def _draw(rng: random.Random, shapes, sites, site_share: float, runtime_s: float):
    cpus, mem, _ = rng.choices(shapes, weights=[w for _, _, w in shapes])[0]
    site = rng.choice(sites) if sites and rng.random() < site_share else None
    return cpus, mem, site, rng.expovariate(1.0 / runtime_s)


def steady(seed: int, duration_s: float, rate: float, runtime_s: float = 300.0,
           sites: tuple[str, ...] = (), site_share: float = 0.0,
           shapes=DEFAULT_SHAPES) -> list[Job]:
    """Poisson arrivals at ``rate`` per second for ``duration_s``; exponential runtimes."""
    rng, jobs, t = random.Random(seed), [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration_s:
            return jobs
        cpus, mem, site, run = _draw(rng, shapes, sites, site_share, runtime_s)
        jobs.append(Job(len(jobs) + 1, round(t, 3), round(run, 3), cpus, mem, site))


def bursty(seed: int, waves: int, per_wave: int, gap_s: float, runtime_s: float = 300.0,
           sites: tuple[str, ...] = (), site_share: float = 0.0,
           shapes=DEFAULT_SHAPES) -> list[Job]:
    """``waves`` waves of ``per_wave`` jobs submitted within a second, ``gap_s`` apart."""
    rng, jobs = random.Random(seed), []
    for wave in range(waves):
        for _ in range(per_wave):
            cpus, mem, site, run = _draw(rng, shapes, sites, site_share, runtime_s)
            jobs.append(Job(len(jobs) + 1, round(wave * gap_s + rng.random(), 3),
                            round(run, 3), cpus, mem, site))
    return jobs


def diurnal(seed: int, duration_s: float, mean_rate: float, runtime_s: float = 600.0,
            peak_at_s: float = 14 * 3600, swing: float = 0.8, sites: tuple[str, ...] = (),
            site_share: float = 0.0, shapes=DEFAULT_SHAPES) -> list[Job]:
    """A Poisson rate ``mean_rate × (1 + swing × cos(2π (t − peak) / day))`` (thinning)."""
    rng, jobs, t, top = random.Random(seed), [], 0.0, mean_rate * (1 + swing)
    while True:
        t += rng.expovariate(top)
        if t >= duration_s:
            return jobs
        rate = mean_rate * (1 + swing * math.cos(2 * math.pi * (t - peak_at_s) / 86400))
        if rng.random() * top > rate:
            continue
        cpus, mem, site, run = _draw(rng, shapes, sites, site_share, runtime_s)
        jobs.append(Job(len(jobs) + 1, round(t, 3), round(run, 3), cpus, mem, site))


def read_history(path: str | Path) -> list[Job]:
    """Jobs from a ``condor_history -json`` export (see the module docstring)."""
    path = Path(path)
    try:
        ads = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TraceError(f"{path}: not a condor_history -json export: {exc}") from None
    if not isinstance(ads, list):
        raise TraceError(f"{path}: expected a JSON list of job ads")
    rows = []
    for i, ad in enumerate(ads):
        try:
            start = ad.get("JobStartDate", ad.get("JobCurrentStartDate"))
            run = ad.get("RemoteWallClockTime")
            if run is None and start is not None and ad.get("CompletionDate"):
                run = ad["CompletionDate"] - start
            if run is None or run <= 0:
                continue                            # never ran: nothing to replay
            rows.append((float(ad["QDate"]), float(run), float(ad.get("RequestCpus", 1)),
                         float(ad.get("RequestMemory", 1024)), ad.get("HTCMESOS_WANT_SITE")))
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(f"{path}: job ad {i}: {type(exc).__name__}: {exc}") from None
    return _relative(rows)


def read_swf(path: str | Path, default_memory: float = 1024.0) -> list[Job]:
    """Jobs from a Standard Workload Format trace (see the module docstring)."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        fields = line.split()
        if len(fields) < 11:
            raise TraceError(f"{path}:{number}: {len(fields)} fields, SWF has 18")
        try:
            submit, run = float(fields[1]), float(fields[3])
            procs = float(fields[7]) if float(fields[7]) > 0 else float(fields[4])
            mem_kib = float(fields[9])
            status = int(float(fields[10]))
        except ValueError as exc:
            raise TraceError(f"{path}:{number}: {exc}") from None
        if run <= 0 or procs <= 0 or status in (0, 5) and run <= 0:
            continue
        memory = mem_kib * procs / 1024 if mem_kib > 0 else default_memory
        rows.append((submit, run, procs, memory, None))
    return _relative(rows)


def _relative(rows: Iterable[tuple]) -> list[Job]:
    rows = sorted(rows, key=lambda r: r[0])
    if not rows:
        return []
    t0 = rows[0][0]
    return [Job(i + 1, round(r[0] - t0, 3), r[1], r[2], r[3], r[4])
            for i, r in enumerate(rows)]
