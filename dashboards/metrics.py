"""Prometheus metrics of one pool (``GET /metrics``), read at each scrape from the status
log (:mod:`framework.statuslog`: the last tick and the running totals), the operator's
controls and the backend's tasks. Every series has the label ``pool``.

Gauges per site (from the last tick; bounds, desired size and drain from the controls
now): ``htcmesos_executors{site,state}``, ``htcmesos_executors_missing{site}``,
``htcmesos_jobs{site,state}`` (``site="any"``: idle jobs that may run at any site),
``htcmesos_site_{min,max,desired}_executors{site}``, ``htcmesos_site_held{site}``,
``htcmesos_site_drained{site}``; the pool: ``htcmesos_autoscaling_paused``,
``htcmesos_snapshot_fresh``, ``htcmesos_snapshot_age_seconds``,
``htcmesos_last_tick_timestamp_seconds`` (epoch), ``htcmesos_tasks{role,site,health}``.
Counters: ``htcmesos_{ticks,tick_failures,stale_snapshots,backend_errors}_total``,
``htcmesos_decision_reasons_total{code}``, ``htcmesos_{launches,drains,removals}_total{site}``,
``htcmesos_operator_actions_total{action}``; histogram ``htcmesos_tick_duration_seconds``.
Before the first tick: the counters (at 0) and the controls' gauges only.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Iterable, Iterator

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.registry import Collector

from framework.planner.decision import Code
from framework.statuslog import TICK_BUCKETS

log = logging.getLogger(__name__)

EXECUTOR_STATES = ("wanted", "starting", "running", "idle", "draining")
OPERATOR_ACTIONS = ("set_site", "drain_site", "undrain_site", "drain_node", "pause", "resume")


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["pool", *labels])


def _counter(name: str, doc: str, labels: Iterable[str], pool: str,
             counts: Counter, keys: Iterable[str]) -> CounterMetricFamily:
    """A counter family with a series for each of ``keys`` (0 when never counted) and
    for every key of ``counts``."""
    family = CounterMetricFamily(name, doc, labels=["pool", *labels])
    for key in dict.fromkeys([*keys, *sorted(counts)]):
        family.add_metric([pool, key], float(counts.get(key, 0)))
    return family


class PoolCollector(Collector):
    """Reads a :class:`~dashboards.source.LocalSource` at each scrape."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        return []       # the series depend on the pool: nothing to check at register

    def collect(self) -> Iterator[Metric]:
        loop, pool = self.source.loop, self.source.pool
        site_names = [s.name for s in self.source.spec.sites]
        totals, latest, controls = loop.status.totals(), loop.status.latest(), loop.controls
        p = [pool]

        if latest is not None:
            execs = _gauge("htcmesos_executors", "Executors per site and state (wanted: the "
                           "decision's count)", ["site", "state"])
            missing = _gauge("htcmesos_executors_missing", "Executors wanted but neither "
                             "starting nor running", ["site"])
            jobs = _gauge("htcmesos_jobs", "Jobs per site and state (site any: idle jobs "
                          "that may run at any site)", ["site", "state"])
            held = _gauge("htcmesos_site_held", "1 when the backend launches nothing at the "
                          "site (black hole, back-off)", ["site"])
            for s in latest.sites:
                for state in EXECUTOR_STATES:
                    execs.add_metric([pool, s.name, state], getattr(s, state))
                missing.add_metric([pool, s.name], s.missing)
                jobs.add_metric([pool, s.name, "idle"], s.jobs_idle)
                jobs.add_metric([pool, s.name, "running"], s.jobs_running)
                held.add_metric([pool, s.name], 1 if s.held else 0)
            jobs.add_metric([pool, "any", "idle"], latest.jobs_idle_any)
            yield from (execs, missing, jobs, held)
            fresh = _gauge("htcmesos_snapshot_fresh", "1 when the last tick's pool snapshot "
                           "was fresh")
            fresh.add_metric(p, 1 if latest.fresh else 0)
            age = _gauge("htcmesos_snapshot_age_seconds", "Age of the last tick's snapshot")
            age.add_metric(p, latest.snapshot_age_s)
            last = _gauge("htcmesos_last_tick_timestamp_seconds", "When the loop last ticked "
                          "(epoch)")
            last.add_metric(p, latest.wall)
            yield from (fresh, age, last)

        lo = _gauge("htcmesos_site_min_executors", "The site's least executors now", ["site"])
        hi = _gauge("htcmesos_site_max_executors", "The site's most executors now", ["site"])
        desired = _gauge("htcmesos_site_desired_executors", "The operator's desired size "
                         "(sites that have one)", ["site"])
        drained = _gauge("htcmesos_site_drained", "1 when the operator drained the site",
                         ["site"])
        for name in site_names:
            c = controls.site(name)
            lo.add_metric([pool, name], c.min)
            hi.add_metric([pool, name], c.max)
            if c.desired is not None:
                desired.add_metric([pool, name], c.desired)
            drained.add_metric([pool, name], 1 if c.drained else 0)
        paused = _gauge("htcmesos_autoscaling_paused", "1 when autoscaling is paused")
        paused.add_metric(p, 1 if controls.paused else 0)
        yield from (lo, hi, desired, drained, paused)

        yield from self._counters(pool, site_names, totals)
        tasks = self._tasks(pool)
        if tasks is not None:
            yield tasks

    @staticmethod
    def _counters(pool: str, site_names: list[str], totals: Any) -> Iterator[Metric]:
        for name, doc, value in (
                ("htcmesos_ticks", "Ticks of the elastic loop", totals.ticks),
                ("htcmesos_tick_failures", "Ticks that failed (nothing decided)",
                 totals.tick_failures),
                ("htcmesos_stale_snapshots", "Ticks on a stale pool snapshot", totals.stale),
                ("htcmesos_backend_errors", "Calls to the backend or HTCondor that failed",
                 totals.backend_errors)):
            family = CounterMetricFamily(name, doc, labels=["pool"])
            family.add_metric([pool], float(value))
            yield family
        yield _counter("htcmesos_decision_reasons", "Reasons the planner gave, by code",
                       ["code"], pool, totals.reasons, [c.value for c in Code])
        for what, counts in (("launches", totals.launches), ("drains", totals.drains),
                             ("removals", totals.removals)):
            yield _counter(f"htcmesos_{what}", f"Executor {what} per site", ["site"], pool,
                           counts, site_names)
        yield _counter("htcmesos_operator_actions", "Operator requests carried out",
                       ["action"], pool, totals.operator, OPERATOR_ACTIONS)
        hist = HistogramMetricFamily("htcmesos_tick_duration_seconds", "How long ticks take",
                                     labels=["pool"])
        cumulative, buckets = 0, []
        for bound, n in zip([*(str(float(b)) for b in TICK_BUCKETS), "+Inf"],
                            totals.duration_buckets):
            cumulative += n
            buckets.append((bound, float(cumulative)))
        hist.add_metric([pool], buckets, totals.duration_sum)
        yield hist

    def _tasks(self, pool: str) -> GaugeMetricFamily | None:
        try:
            tasks = self.source.task_views()
        except Exception:  # noqa: BLE001 - a scrape without the tasks, said in the log
            log.exception("metrics: the backend's tasks")
            return None
        family = _gauge("htcmesos_tasks", "Tasks of the pool by role, site and health",
                        ["role", "site", "health"])
        counts: Counter = Counter()
        for t in tasks:
            health = "unknown" if t.healthy is None else ("healthy" if t.healthy
                                                          else "unhealthy")
            counts[(t.role, t.site or "", health)] += 1
        for (role, site, health), n in sorted(counts.items()):
            family.add_metric([pool, role, site, health], n)
        return family
