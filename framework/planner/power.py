"""The planner when CLUES drives (``autoscaling.driver: clues``), pure.

CLUES decides which virtual nodes (:mod:`framework.clues.nodes`) are on; htcmesos carries
it out without ever killing a running job:

- **power on** ``node``: unless an executor runs it already, the node waits for one
  (the site's desired count grows by one) and is bound to the next executor that appears
  at its site. After :data:`POWER_ON_WAIT_S` without one (CLUES' ``MAX_WAIT_POWERON``,
  after which CLUES marks the node OFF_ERR) the request lapses.
- **power off** ``node``: a power-on still waiting is withdrawn; an idle executor is
  drained (HTCondor's graceful drain) once a fresh ad of its startd is seen, and its task
  killed only when a fresh ad shows it draining with no claim. A node with claims is not
  powered off (CLUES powers off only IDLE nodes: it changed meanwhile), and a claim that
  raced the drain cancels drain and power-off: the node stays on and CLUES sees it USED.

The planner never scales on its own here; the sites' ``executors.min`` stay.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from ..clues.nodes import NodeTable, site_of
from ..monitor.snapshot import PoolSnapshot
from ..spec import ClusterSpec
from .decision import Code, Decision, Drain, Executor, PlannerState, Reason, TaskState
from .planner import current_drains, follow_drains

#: CLUES' MAX_WAIT_POWERON (clueslib/configlib.py default): a node not up by then is OFF_ERR
POWER_ON_WAIT_S = 300.0


@dataclass(frozen=True)
class PowerRequest:
    """``htcmesos poweron|poweroff node``, as received at clock second ``at``."""

    node: str
    on: bool
    at: float


def plan_power(snapshot: PoolSnapshot, executors: list[Executor], spec: ClusterSpec,
               state: PlannerState, nodes: NodeTable, requests: list[PowerRequest],
               now: float) -> tuple[Decision, NodeTable]:
    """This tick's decision and node table (see the module docstring)."""
    reasons: list[Reason] = []
    if not snapshot.fresh:
        reasons.append(Reason(Code.STALE, "*", f"the pool's data is {snapshot.age(now):.0f} s "
                                               f"old ({snapshot.error}): nothing is drained "
                                               f"or removed until it is fresh"))
    leaving = {e.task_id for e in executors if e.state is TaskState.KILLING}
    table = nodes.bind(executors, spec)
    pending_on, pending_off = dict(table.pending_on), dict(table.pending_off)
    by_task = snapshot.by_task()
    # drains of tasks that ended on their own are over; none is killed twice
    drains = current_drains(state.drains, executors, snapshot, by_task)
    cancel: list[Drain] = []
    for req in requests:
        _take(req, spec, table, leaving, pending_on, pending_off, drains, cancel, reasons)
    for node, at in sorted(pending_on.items()):
        if now - at >= POWER_ON_WAIT_S:
            del pending_on[node]
            reasons.append(Reason(Code.POWER_ON_EXPIRED, site_of(spec, node),
                                  f"{node}: no executor came in {now - at:.0f} s: power-on "
                                  f"dropped"))
    raced, kill = follow_drains(snapshot, drains, by_task, reasons, now,
                                {e.task_id for e in executors if e.task_id not in leaving})
    cancel += raced
    for drain in raced:
        pending_off.pop(table.bound.get(drain.task_id, ""), None)
    live = Counter(e.site for e in executors
                   if e.state is not TaskState.KILLING and e.task_id not in kill)
    drain_now = []
    down = dict(state.last_scale_in)
    on = table.tasks()
    for node in sorted(pending_off):
        task = on.get(node)
        ad = by_task.get(task or "")
        site = site_of(spec, node)
        if task is None or task in drains or task in kill or task in leaving:
            continue                              # going already: kept until it is gone
        if now - pending_off[node] >= POWER_ON_WAIT_S:
            del pending_off[node]
            reasons.append(Reason(Code.POWER_ON_EXPIRED, site, f"{node}: no fresh ad of its "
                                                               f"startd came: power-off dropped"))
            continue
        if not snapshot.fresh or ad is None:
            reasons.append(Reason(Code.AD_MISSING, site, f"{node}: powered off; drained once "
                                                         f"a fresh ad of its startd is seen"))
            continue
        if ad.claims:
            del pending_off[node]
            reasons.append(Reason(Code.NODE_USED, ad.site, f"{node} ({ad.name}) runs "
                                                           f"{ad.claims} claim(s): not powered "
                                                           f"off; CLUES sees it USED"))
            continue
        if live[site] <= spec.site(site).executors_min:
            del pending_off[node]
            reasons.append(Reason(Code.MINIMUM, site, f"{node}: not powered off: {site} is at "
                                                      f"its executors.min"))
            continue
        live[site] -= 1
        drain_now.append(ad)
        drains[task] = Drain(task, ad.name, now)
        down[ad.site] = now
        reasons.append(Reason(Code.POWER_OFF, ad.site, f"{node} ({ad.name}): draining"))
    waiting = Counter(site_of(spec, n) for n in pending_on)
    desired, launches = {}, {}
    up = dict(state.last_scale_up)
    for site in spec.sites:
        alive = sum(1 for e in executors if e.site == site.name
                    and e.state is not TaskState.KILLING and e.task_id not in kill)
        want = min(site.executors_max, alive + waiting[site.name])
        desired[site.name] = max(site.executors_min, want)
        launches[site.name] = max(0, desired[site.name] - alive)
        if launches[site.name]:
            up[site.name] = now
    table = dataclasses.replace(table, pending_on=pending_on, pending_off=pending_off)
    decision = Decision(now, desired, launches, tuple(drain_now), tuple(cancel), tuple(kill),
                        tuple(reasons), PlannerState(up, down, drains), snapshot.fresh)
    return decision, table


def _take(req: PowerRequest, spec: ClusterSpec, table: NodeTable, leaving: set[str],
          pending_on: dict[str, float], pending_off: dict[str, float],
          drains: dict[str, Drain], cancel: list[Drain], reasons: list[Reason]) -> None:
    site = site_of(spec, req.node)
    task = table.task_of(req.node)
    if task in leaving:
        task = None                               # being killed: off, as CLUES sees it
    if req.on:
        pending_off.pop(req.node, None)
        if task is not None and task in drains:   # off, then on again before it went
            cancel.append(drains.pop(task))
            reasons.append(Reason(Code.POWER_ON, site, f"{req.node}: power-on: its drain "
                                                       f"is cancelled, executor {task} kept"))
        elif task is not None:
            reasons.append(Reason(Code.ALREADY, site, f"{req.node}: power-on: executor "
                                                      f"{task} runs it already"))
        elif req.node not in pending_on:
            pending_on[req.node] = req.at
            reasons.append(Reason(Code.POWER_ON, site, f"{req.node}: an executor is "
                                                       f"launched for it"))
        return
    if req.node in pending_on:
        del pending_on[req.node]
        reasons.append(Reason(Code.POWER_OFF, site, f"{req.node}: its waiting power-on "
                                                    f"is withdrawn"))
    elif task is None:
        reasons.append(Reason(Code.ALREADY, site, f"{req.node}: power-off: it is off"))
    else:
        pending_off.setdefault(req.node, req.at)
