"""One tick's :class:`~framework.statuslog.TickStatus`, built by a pure function from what
the elastic loop had in hand: the spec it planned with, the operator's controls, the
snapshot, the executors before and after, the Decision and what the actuator did.

Counting rules (SiteStatus' docstring): ``starting`` = executors STARTING after the tick;
``running`` = RUNNING ones; of these, ``draining`` = in the drains after the tick (as the
actuator left them) or whose ad says draining, ``idle`` = the others whose ad holds no
claim; ``wanted`` = the Decision's desired count; jobs idle pinned to the site; jobs
running there = the claims of its executors' startds (the pool monitor counts running
jobs by the site they asked for, ``any`` for most: not where they run). ``launches`` per
site: the executors the tick asked for beyond those alive and not killed (demand,
minimum and desired sizes alike), at least the planner's launches; none where the
backend did not take the count (``Applied.unsized``: nothing was asked for).
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping

from .actuator import Applied
from .controls import Controls
from .monitor import PoolSnapshot, StartdInfo
from .planner import Decision, Executor, TaskState
from .spec import ClusterSpec
from .statuslog import SiteStatus, TickStatus


def tick_status(spec: ClusterSpec, controls: Controls | None, snapshot: PoolSnapshot,
                before: list[Executor], after: list[Executor], decision: Decision,
                applied: Applied, held: Mapping[str, str], wall: float, duration_s: float,
                previous: TickStatus | None) -> TickStatus:
    """The status of the tick that made ``decision`` (at its clock time ``decision.at``,
    ``wall`` epoch s, ``duration_s`` long). ``spec``: the effective spec the planner had
    (a drained site's bounds are 0/0 there; the status shows the operator's)."""
    launches = _launches(spec, before, decision, applied)
    site_of = {e.task_id: e.site for e in [*before, *after]}
    drains = Counter(s.site for s in applied.drained)
    removals = Counter(site_of.get(t, "?") for t in applied.killed)
    ads = snapshot.by_task()
    draining = set(applied.state.drains)        # refused drains out, failed kills back in
    sites = tuple(_site(spec, controls, snapshot, ads, draining, after, decision, held, s.name)
                  for s in spec.sites)
    actions = [f"launch {site}+{n}" for site, n in launches.items() if n]
    cancelled = {d.task_id: d.startd for d in decision.cancel}
    actions += [f"cancel drain {cancelled.get(t, t)}" for t in applied.cancelled]
    actions += [f"remove {t}" for t in applied.killed]
    operator = {t for t, d in applied.state.drains.items() if d.operator}
    actions += [f"drain {s.name}" + (" (operator)" if s.task_id in operator else "")
                for s in applied.drained]
    keys = {(r.code, r.site) for r in decision.reasons}
    notable = (previous is None or bool(actions) or bool(applied.errors)
               or keys != {(r.code, r.site) for r in previous.reasons})
    return TickStatus(
        at=decision.at, wall=wall, fresh=snapshot.fresh,
        snapshot_age_s=max(0.0, snapshot.age(decision.at)), error=snapshot.error,
        paused=bool(controls and controls.paused), sites=sites,
        jobs_idle_any=sum(j.count for j in snapshot.idle_jobs if j.site is None),
        reasons=tuple(decision.reasons), actions=tuple(actions),
        launches={site: n for site, n in launches.items() if n},
        drains=dict(drains), removals=dict(removals), errors=tuple(applied.errors),
        duration_s=duration_s, notable=notable)


def _launches(spec: ClusterSpec, before: list[Executor], decision: Decision,
              applied: Applied) -> dict[str, int]:
    killed, unsized = set(applied.killed), set(applied.unsized)
    kept = Counter(e.site for e in before
                   if e.state is not TaskState.KILLING and e.task_id not in killed)
    return {s.name: 0 if s.name in unsized else
            max(decision.launches.get(s.name, 0), decision.desired.get(s.name, 0) - kept[s.name])
            for s in spec.sites}


def _site(spec: ClusterSpec, controls: Controls | None, snapshot: PoolSnapshot,
          ads: Mapping[str, StartdInfo], draining_ids: set[str], after: list[Executor],
          decision: Decision, held: Mapping[str, str], name: str) -> SiteStatus:
    here = [e for e in after if e.site == name]
    running = [e for e in here if e.state is TaskState.RUNNING]
    draining = idle = 0
    for e in running:
        ad = ads.get(e.task_id)
        if e.task_id in draining_ids or (ad is not None and ad.draining):
            draining += 1
        elif ad is not None and ad.claims == 0:
            idle += 1
    site = spec.site(name)
    control = controls.sites.get(name) if controls is not None else None
    return SiteStatus(
        name=name, private=site.private, wanted=decision.desired.get(name, 0),
        starting=sum(1 for e in here if e.state is TaskState.STARTING),
        running=len(running), idle=idle, draining=draining,
        jobs_idle=sum(j.count for j in snapshot.idle_jobs if j.site == name),
        jobs_running=sum(ads[e.task_id].claims for e in here if e.task_id in ads),
        min=control.min if control else site.executors_min,
        max=control.max if control else site.executors_max,
        desired=control.desired if control else None,
        drained=bool(control and control.drained), held=held.get(name))
