"""The operator's controls in the planner (:func:`.planner.plan` given ``controls``; the
semantics are in :mod:`framework.controls`).

- **desired size**: the site's target is ``desired`` clamped to [min, max]. Missing
  executors are launched whatever the queue (within ``max_launches_per_tick``,
  ``max_executors`` and the site's max, before the queue's launches); the queue launches
  nothing there; idle executors above the target are drained at once (an ordinary drain:
  a claim that races it cancels it), busy ones stay until their jobs end. Executors the
  operator drains do not count towards the target (they take no new job).
- **drained site**: nothing is launched there, every executor gets an operator drain.
- **node drain**: an operator drain of that executor; if that takes the site below its
  minimum of executors taking jobs, a fresh one is launched at once (within the site's
  and the pool's max; else once the drained one is removed). No site goes below its
  minimum for a desired size either (it is asked for even when launches for the desired
  size wait: a stale snapshot, a held site).
- **paused**: the queue launches and drains nothing; minimums, desired sizes, operator
  drains and the drains in progress go on.

An *operator drain* (``Drain.operator``) is sent without the claim check and with a long
retirement (:mod:`framework.condor.worker`): running jobs finish, a claim never cancels
it, and the task is removed once a fresh ad shows it drained with no claim. Undraining a
site cancels its operator drains (not the node drains). Only on a fresh snapshot are
drains started or launches made for desired sizes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from ..monitor.snapshot import PoolSnapshot, StartdInfo
from ..spec import ClusterSpec
from .decision import Code, Drain, Executor, Reason, TaskState

if TYPE_CHECKING:
    from ..controls import Controls


@dataclass
class OperatorPlan:
    """What the controls make the planner do this tick."""

    #: site → (code, why) for sites where the queue launches nothing
    stop: dict[str, tuple[Code, str]] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)    # desired-size sites → target
    drained: set[str] = field(default_factory=set)           # drained sites
    launches: dict[str, int] = field(default_factory=dict)   # for desired sizes, per site
    drain: list[StartdInfo] = field(default_factory=list)    # drains to start now
    drains: dict[str, Drain] = field(default_factory=dict)   # their records, by task id
    #: executors on their way out (drains started now, or waiting for an ad to start)
    leaving: set[str] = field(default_factory=set)
    #: site → executors alive under the operator's drains (started, or to start)
    out: Counter = field(default_factory=Counter)

    @property
    def spent(self) -> int:
        """Launches taken from this tick's budget."""
        return sum(self.launches.values())

    @property
    def skip(self) -> set[str]:
        """Sites the queue's scale-in leaves alone."""
        return set(self.targets) | self.drained

    def wanted(self, count: Mapping[str, int], launches: Mapping[str, int]) -> dict[str, int]:
        """Executors wanted at the operator's sites: a drained site none, a desired-size
        site its target once it has that many besides those the operator drains (busy
        ones above it stay, unasked)."""
        wanted = {site: 0 for site in self.drained}
        for site, target in self.targets.items():
            have = count.get(site, 0)
            staying = have - self.out[site]
            wanted[site] = have + launches.get(site, 0) if staying <= target else target
        return wanted


def release(drains: dict[str, Drain], controls: "Controls", executors: list[Executor],
            reasons: list[Reason]) -> list[Drain]:
    """Operator drains of sites the operator undrained (node drains stay): taken out of
    ``drains`` and returned, to be cancelled."""
    site_of = {e.task_id: e.site for e in executors}
    out = []
    for task_id, drain in sorted(drains.items()):
        site = site_of.get(task_id)
        control = controls.sites.get(site) if site is not None else None
        if not drain.operator or task_id in controls.node_drains or control is None \
                or control.drained:
            continue
        out.append(drain)
        del drains[task_id]
        reasons.append(Reason(Code.OPERATOR_DRAIN, site, f"{drain.startd}: the operator "
                                                         f"undrained {site}: drain cancelled"))
    return out


def plan_operator(snapshot: PoolSnapshot, live: list[Executor], by_task: dict[str, StartdInfo],
                  spec: ClusterSpec, controls: "Controls", count: Counter,
                  drains: Mapping[str, Drain], held: Mapping[str, str], reasons: list[Reason],
                  now: float) -> OperatorPlan:
    """Stops, desired-size launches and drains, operator drains (``count``: executors
    alive per site after this tick's kills; ``drains``: those in progress)."""
    ops = OperatorPlan()
    for s in spec.sites:
        c = controls.sites.get(s.name)
        if c is not None and c.drained:
            ops.drained.add(s.name)
            ops.stop[s.name] = (Code.SITE_DRAINED, "the operator drained the site")
        elif c is not None and c.desired is not None:
            target = min(max(c.desired, s.executors_min), s.executors_max)
            ops.targets[s.name] = target
            ops.stop[s.name] = (Code.DESIRED, f"the operator holds {s.name} at {target} "
                                              f"executor(s)")
        elif controls.paused:
            ops.stop[s.name] = (Code.PAUSED, "autoscaling is paused")
    _operator_drains(snapshot, live, by_task, controls, drains, ops, reasons, now)
    ops.out = Counter(e.site for e in live
                      if e.task_id in controls.node_drains or e.site in ops.drained
                      or e.task_id in drains and drains[e.task_id].operator)
    policy = spec.autoscaling
    budget = min(policy.max_launches_per_tick,
                 max(0, policy.max_executors - sum(count.values())))
    site_of = {e.task_id: e.site for e in live}
    for site, target in ops.targets.items():
        have = count[site]
        staying = have - ops.out[site]          # the operator's drains take no new job
        if staying < target:
            want, room = target - staying, max(0, spec.site(site).executors_max - have)
            n = min(want, budget, room) if snapshot.fresh and site not in held else 0
            budget -= n
            ops.launches[site] = n
            if n:
                reasons.append(Reason(Code.DESIRED, site, f"{n} new executor(s): the operator "
                                                          f"wants {target} ({staying} now)"))
            if n < want:
                why = ("the snapshot is stale" if not snapshot.fresh else
                       f"no launches there now: {held[site]}" if site in held else
                       f"the site is at its executors.max until the {ops.out[site]} the "
                       f"operator drains are removed" if n == room < budget else
                       "max_launches_per_tick or max_executors reached")
                reasons.append(Reason(Code.DESIRED, site, f"{want - n} more wanted for the "
                                                          f"desired {target}: {why}"))
        elif snapshot.fresh:
            _drain_above(site, target, have, live, by_task, drains, site_of, ops, reasons, now)
    return ops


def keep_minimum(spec: ClusterSpec, count: Mapping[str, int], launches: Mapping[str, int],
                 desired: dict[str, int], ops: OperatorPlan, reasons: list[Reason]) -> None:
    """Raise ``desired`` (executors wanted per site) to each site's minimum of executors
    that take jobs: a desired size never asks for fewer, and executors the operator drains
    are replaced at once, within the site's max and the pool's ``max_executors`` (else
    once they are removed)."""
    for s in spec.sites:
        desired[s.name] = max(desired[s.name], s.executors_min)
    room = spec.autoscaling.max_executors - sum(max(count.get(s.name, 0), desired[s.name])
                                                for s in spec.sites)
    for s in spec.sites:
        site, out = s.name, ops.out[s.name]
        have = count.get(site, 0) + launches.get(site, 0)
        need = s.executors_min - (have - out)           # serving executors missing
        extra = need - max(0, desired[site] - have)     # beyond those already asked for
        if not out or extra <= 0:
            continue
        n = max(0, min(extra, s.executors_max - desired[site], room))
        desired[site] += n
        room -= n
        if n:
            reasons.append(Reason(Code.OPERATOR_DRAIN, site, f"{n} new executor(s) in place of "
                                                             f"the {out} the operator drains: "
                                                             f"the site keeps its minimum of "
                                                             f"{s.executors_min}"))
        if n < extra:
            why = ("the site is at its executors.max" if s.executors_max - desired[site] <= 0
                   else "the pool is at max_executors")
            said = "no executor" if not n else f"{extra - n} more wanted"
            reasons.append(Reason(Code.OPERATOR_DRAIN, site, f"{said} in place of the {out} the "
                                                             f"operator drains: {why}; one "
                                                             f"comes once it is removed"))


def _operator_drains(snapshot: PoolSnapshot, live: list[Executor],
                     by_task: dict[str, StartdInfo], controls: "Controls",
                     drains: Mapping[str, Drain], ops: OperatorPlan, reasons: list[Reason],
                     now: float) -> None:
    """Operator drains to start: executors of drained sites and drained nodes."""
    waiting: Counter = Counter()
    for e in sorted(live, key=lambda e: e.task_id):
        if e.task_id in drains:
            continue
        if e.site in ops.drained:
            why = f"the operator drained site {e.site}"
        elif e.task_id in controls.node_drains:
            why = "the operator drains it"
        else:
            continue
        ad = by_task.get(e.task_id)
        ops.leaving.add(e.task_id)
        if ad is None or not snapshot.fresh:
            waiting[e.site] += 1
            continue
        ops.drain.append(ad)
        ops.drains[e.task_id] = Drain(e.task_id, ad.name, now, operator=True)
        reasons.append(Reason(Code.OPERATOR_DRAIN, e.site, f"{ad.name}: {why}: draining "
                                                           f"(running jobs finish), then "
                                                           f"removed"))
    for site, n in sorted(waiting.items()):
        why = "the snapshot is stale" if not snapshot.fresh else "no startd ad yet"
        reasons.append(Reason(Code.OPERATOR_DRAIN, site, f"{n} executor(s) to drain wait: "
                                                         f"{why}"))


def _drain_above(site: str, target: int, have: int, live: list[Executor],
                 by_task: dict[str, StartdInfo], drains: Mapping[str, Drain],
                 site_of: Mapping[str, str], ops: OperatorPlan, reasons: list[Reason],
                 now: float) -> None:
    """Idle executors above a desired size: drained at once; busy ones stay. Executors
    on their way out (drains in progress, started now, or waiting for an ad) do not count."""
    leaving = len({t for t in [*drains, *ops.leaving] if site_of.get(t) == site})
    excess = have - leaving - target
    if excess <= 0:
        return
    idle = sorted((by_task[e.task_id] for e in live
                   if e.site == site and e.state is TaskState.RUNNING and e.task_id in by_task
                   and e.task_id not in drains and e.task_id not in ops.drains),
                  key=lambda s: (s.idle_since if s.idle_since is not None else now, s.name))
    idle = [s for s in idle if s.claims == 0 and not s.draining][:excess]
    for startd in idle:
        ops.drain.append(startd)
        ops.drains[startd.task_id] = Drain(startd.task_id, startd.name, now)
        ops.leaving.add(startd.task_id)
        reasons.append(Reason(Code.DESIRED, site, f"{startd.name} idle: the operator wants "
                                                  f"{target} ({have - leaving} now): draining"))
    if excess > len(idle):
        reasons.append(Reason(Code.DESIRED, site, f"{excess - len(idle)} busy executor(s) above "
                                                  f"the desired {target} stay until their jobs "
                                                  f"end"))


def paused_idle(snapshot: PoolSnapshot, live: list[Executor], by_task: dict[str, StartdInfo],
                drains: Mapping[str, Drain], skip: set[str], reasons: list[Reason]) -> None:
    """Say which idle executors the paused autoscaler keeps."""
    if not snapshot.fresh:
        return
    idle = Counter(e.site for e in live
                   if e.state is TaskState.RUNNING and e.site not in skip
                   and e.task_id not in drains and e.task_id in by_task
                   and by_task[e.task_id].claims == 0 and not by_task[e.task_id].draining)
    for site, n in sorted(idle.items()):
        reasons.append(Reason(Code.PAUSED, site, f"{n} idle executor(s) kept: autoscaling "
                                                 f"is paused"))
