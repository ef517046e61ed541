"""The elastic pool's planner, pure: ``plan(snapshot, executors, spec, state, now)``.

**Scale out.** The idle jobs' shapes are packed (:mod:`.packing`) onto the free capacity
of startds that are not draining, then onto executors still starting (a full slot each,
so nothing is launched twice for the same jobs), then onto new executors of the
executor role's size: at the jobs' site, unpinned jobs at the first site (spec order)
with room. Limits: each site's ``executors.max``, ``autoscaling.max_executors``,
``max_launches_per_tick``, and ``scale_up_cooldown`` while a site's previous scale-up
is still starting. With ``executor_size: jobs`` each job left gets an executor of its own
size (:func:`.packing.pack_jobs`), and ``Decision.sizes`` says how many of each a site
keeps.

**Scale in, never a running job.** Only on a fresh snapshot. A startd idle (no claim, not
draining) for ``idle_before_scale_in`` — or for any time once its site's queue has held
no job for that long — at a site with no idle jobs it could take is drained (HTCondor's
own drain: it takes no new claim), unless the site grew less than ``scale_down_cooldown``
ago; the sites' and the pool's minimum stay. A draining task is killed only when a fresh
ad shows it draining with no claim; a claim that arrived meanwhile (it raced the drain:
only idle startds are drained) cancels the drain and the removal; a draining startd
without a fresh ad is left alone, and so is one whose task the backend does not list
(unreachable, or ended: its drain is forgotten once its ad is gone too; a task being
killed ends its drain). Times are seconds of the injected clock.

**The operator** (``controls``: desired sizes, pause, drained sites and nodes) is planned
by :mod:`.operator`; without controls the planner is the autoscaler alone.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Mapping

from ..model import Role
from ..monitor.snapshot import PoolSnapshot, StartdInfo
from ..spec import ClusterSpec
from . import operator
from .decision import Code, Decision, Drain, Executor, PlannerState, Reason, Size, TaskState
from .packing import pack, pack_jobs, takes

if TYPE_CHECKING:
    from ..controls import Controls


def plan(snapshot: PoolSnapshot, executors: list[Executor], spec: ClusterSpec,
         state: PlannerState, now: float, held: Mapping[str, str] | None = None,
         controls: "Controls | None" = None) -> Decision:
    """The decision for this tick, with a reason for every action and every one not taken.
    ``held``: sites the backend launches nothing at now (→ why): their jobs wait, unpinned
    jobs go elsewhere, and the launch budget is not spent on them. ``controls``: the
    operator's (:mod:`.operator`; ``spec`` is then ``controls.effective_spec(...)``)."""
    reasons: list[Reason] = []
    if not snapshot.fresh:
        reasons.append(Reason(Code.STALE, "*", f"the pool's data is {snapshot.age(now):.0f} s "
                                               f"old ({snapshot.error}): nothing is launched "
                                               f"or removed until it is fresh"))
    live = [e for e in executors if e.state is not TaskState.KILLING]
    count = Counter(e.site for e in live)
    by_task = snapshot.by_task()
    alive = {e.task_id: e.site for e in live}
    drains = current_drains(state.drains, executors, snapshot, by_task)
    released = operator.release(drains, controls, executors, reasons) if controls else []
    cancel, kill = follow_drains(snapshot, drains, by_task, reasons, now, set(alive))
    cancel = released + cancel
    for task_id in kill:
        count[alive[task_id]] -= 1
    demand = _demand(snapshot, spec, state, now)
    stop = {site: (Code.SITE_HELD, f"no launches there now: {why}")
            for site, why in (held or {}).items()}
    ops = None
    if controls is not None:
        ops = operator.plan_operator(snapshot, [e for e in live if e.task_id not in kill],
                                     by_task, spec, controls, count, drains, held or {},
                                     reasons, now)
        stop.update(ops.stop)
        drains.update(ops.drains)
    staying = live if ops is None else [e for e in live if e.task_id not in ops.leaving]
    launches, packing_sites, new_sizes = _scale_out(snapshot, staying, by_task, spec, state,
                                                    count, reasons, now, stop,
                                                    ops.spent if ops else 0)
    for site, n in (ops.launches if ops else {}).items():
        launches[site] = launches.get(site, 0) + n
    up = dict(state.last_scale_up)
    for site, n in launches.items():
        if n:
            up[site] = now
    if ops is None or not controls.paused:
        kept = live if ops is None else [e for e in live if e.site not in ops.skip]
        drain = _scale_in(snapshot, kept, by_task, spec, state, count, launches, packing_sites,
                          drains, reasons, now, demand)
    else:
        drain = []
        operator.paused_idle(snapshot, live, by_task, drains, ops.skip, reasons)
    down = dict(state.last_scale_in)
    for startd in drain:
        down[startd.site] = now
        drains[startd.task_id] = Drain(startd.task_id, startd.name, now)
    desired = {s.name: max(s.executors_min, count[s.name] + launches.get(s.name, 0))
               for s in spec.sites}
    if ops is not None:
        desired.update(ops.wanted(count, launches))
        operator.keep_minimum(spec, count, launches, desired, ops, reasons)
        drain = ops.drain + drain
    sizes = _sizes(executors, kill, new_sizes, spec) if spec.autoscaling.executor_size == "jobs" \
        else {}
    return Decision(now, desired, launches, tuple(drain), tuple(cancel), tuple(kill),
                    tuple(reasons), PlannerState(up, down, drains, demand), snapshot.fresh,
                    sizes)


def _demand(snapshot: PoolSnapshot, spec: ClusterSpec, state: PlannerState,
            now: float) -> dict[str, float]:
    """When each site last had an idle job queued that could run there; a site first
    seen now counts as now (how long its queue was empty before is not known)."""
    demand = dict(state.last_demand)
    for site in spec.sites:
        demand.setdefault(site.name, now)
    if snapshot.fresh:
        for shape in snapshot.idle_jobs:
            for site in ([shape.site] if shape.site is not None else
                         [s.name for s in spec.sites]):
                demand[site] = now
    return demand


def _sizes(executors: list[Executor], kill: list[str], new: Counter,
           spec: ClusterSpec) -> dict[str, dict[Size, int]]:
    """Executors sized to jobs wanted per site and size: those that stay, and the new
    ones (executors of the role's size are the rest of ``desired``)."""
    out: dict[str, Counter] = {s.name: Counter() for s in spec.sites}
    gone = set(kill)
    for e in executors:
        if e.cpus and e.state is not TaskState.KILLING and e.task_id not in gone \
                and e.site in out:
            out[e.site][(e.cpus, e.mem)] += 1
    for (site, cpus, mem), n in new.items():
        out[site][(cpus, mem)] += n
    return {site: dict(sorted(c.items())) for site, c in out.items()}


def current_drains(drains: Mapping[str, Drain], executors: list[Executor],
                   snapshot: PoolSnapshot, by_task: Mapping[str, StartdInfo]) -> dict[str, Drain]:
    """The drains still to follow: those of executors alive, and of executors the backend
    does not list now (unreachable, or ended) while their startd still has an ad (or the
    snapshot is stale: it proves nothing). The drain of an executor being killed, or
    gone along with its ad, is over (:func:`drains_over`): nothing is left to remove."""
    over = drains_over(drains, executors, snapshot, by_task)
    return {task_id: drain for task_id, drain in drains.items() if task_id not in over}


def drains_over(task_ids: Iterable[str], executors: list[Executor], snapshot: PoolSnapshot,
                by_task: Mapping[str, StartdInfo]) -> set[str]:
    """Of ``task_ids`` (drained executors), those whose drain is over: the task is being
    killed, or the backend no longer lists it and a fresh snapshot has no ad of its
    startd."""
    listed = {e.task_id: e.state for e in executors}
    return {t for t in task_ids if listed.get(t) is TaskState.KILLING
            or t not in listed and snapshot.fresh and t not in by_task}


def follow_drains(snapshot: PoolSnapshot, drains: dict[str, Drain],
                  by_task: dict[str, StartdInfo], reasons: list[Reason],
                  now: float, alive: set[str]) -> tuple[list[Drain], list[str]]:
    """Drains in progress: kill the drained, cancel those that got a claim. ``alive``:
    the task ids the backend lists alive; a drain of another task is left alone (a kill
    of a task the backend does not list would go nowhere)."""
    cancel, kill = [], []
    for task_id, drain in sorted(drains.items()):
        ad = by_task.get(task_id)
        if not snapshot.fresh or ad is None:
            why = "the snapshot is stale" if not snapshot.fresh else "its startd has no ad"
            reasons.append(Reason(Code.AD_MISSING, ad.site if ad else "?",
                                  f"{drain.startd} draining since {now - drain.since:.0f} s; "
                                  f"{why}: not killed"))
            continue
        if task_id not in alive:
            reasons.append(Reason(Code.AD_MISSING, ad.site, f"{drain.startd}: its task "
                                                             f"{task_id} is not listed by the "
                                                             f"backend (ended or unreachable): "
                                                             f"not killed"))
            continue
        if ad.claims > 0 and drain.operator:       # jobs finish; a claim never cancels it
            reasons.append(Reason(Code.OPERATOR_DRAIN, ad.site, f"{ad.name}: drained by the "
                                                                f"operator, {ad.claims} job(s) "
                                                                f"still running"))
        elif ad.claims > 0:
            cancel.append(drain)
            del drains[task_id]
            reasons.append(Reason(Code.CLAIM_DURING_DRAIN, ad.site,
                                  f"{ad.name} got {ad.claims} claim(s) during its drain: drain "
                                  f"cancelled, executor kept"))
        elif ad.draining:
            kill.append(task_id)
            del drains[task_id]
            reasons.append(Reason(Code.DRAINED, ad.site, f"{ad.name} drained, no claim: its "
                                                          f"task {task_id} is removed"))
        else:
            reasons.append(Reason(Code.AD_MISSING, ad.site, f"{ad.name}: the drain has not "
                                                             f"shown in its ad yet"))
    return cancel, kill


def _scale_out(snapshot: PoolSnapshot, live: list[Executor], by_task: dict[str, StartdInfo],
               spec: ClusterSpec, state: PlannerState, count: Counter,
               reasons: list[Reason], now: float, held: Mapping[str, tuple[Code, str]],
               spent: int = 0) -> tuple[dict[str, int], Counter, Counter]:
    """New executors per site; per site the jobs placed on existing capacity; and with
    ``executor_size: jobs`` the new executors by (site, cpus, memory). ``held``: sites
    that take no launch for the queue (→ the reason's code and why); ``spent``: launches
    already made this tick (the operator's desired sizes)."""
    role = spec.roles[Role.EXECUTOR]
    slot = (float(max(1, int(role.cpus))), float(role.mem_mb))
    free: Counter = Counter()
    exact: Counter = Counter()      # executors sized to jobs: empty or starting, by size
    starting: Counter = Counter()
    for e in live:
        ad = by_task.get(e.task_id)
        if ad is None:
            starting[e.site] += 1
        if e.cpus:
            if ad is None or (ad.claims == 0 and not ad.draining
                              and e.task_id not in state.drains):
                exact[(e.site, e.cpus, e.mem)] += 1
        elif ad is not None and not ad.draining and e.task_id not in state.drains:
            free[(e.site, ad.cpus_free, ad.memory_free)] += 1
        elif ad is None:
            free[(e.site, slot[0], slot[1])] += 1
    if not snapshot.fresh:
        return {s.name: 0 for s in spec.sites}, Counter(), Counter()
    total = sum(count.values())
    pool_room = max(0, spec.autoscaling.max_executors - total - spent)
    room = {s.name: max(0, s.executors_max - count[s.name]) for s in spec.sites}
    cooling = {site for site, at in state.last_scale_up.items()
               if starting[site] and now - at < spec.autoscaling.scale_up_cooldown_s}
    order = [s.name for s in spec.sites]
    def packer(room: dict[str, int]):
        if spec.autoscaling.executor_size == "jobs":
            return pack_jobs(snapshot.idle_jobs, free, exact, slot, room, order)
        return pack(snapshot.idle_jobs, free, slot, room, order)

    wanted = packer({s: 1 << 30 for s in order})
    packing = packer({s: min(room[s], pool_room) if s not in cooling and s not in held else 0
                      for s in order})
    launches: dict[str, int] = {}
    sizes: Counter = Counter()
    budget = max(0, min(spec.autoscaling.max_launches_per_tick - spent, pool_room))
    for site in order:
        n = min(packing.new[site], budget)
        budget -= n
        launches[site] = n
        take = n      # within the budget, the largest first (as they were packed)
        for key in sorted((k for k in packing.sizes if k[0] == site),
                          key=lambda k: (-k[1], -k[2])):
            got = min(take, packing.sizes[key])
            if got:
                sizes[key] += got
                take -= got
        if n:
            reasons.append(Reason(Code.SCALE_UP, site, f"{n} new executor(s) for idle jobs "
                                                       f"({packing.placed_existing[site]} fit "
                                                       f"the free capacity)"))
        if n < wanted.new[site]:
            code, why = _held_back(site, n, wanted.new[site], packing.new[site], room, pool_room,
                                   site in cooling, held.get(site))
            reasons.append(Reason(code, site, why))
        elif not n and packing.placed_existing[site]:
            reasons.append(Reason(Code.COVERED, site, f"{packing.placed_existing[site]} idle "
                                                      f"job(s) fit free or starting executors"))
    if packing.too_big:
        reasons.append(Reason(Code.JOB_TOO_BIG, "*", f"{packing.too_big} idle job(s) ask more "
                                                     f"than an executor slot ({slot[0]:g} cores, "
                                                     f"{slot[1]:g} MiB)"))
    if packing.unknown_site:
        reasons.append(Reason(Code.UNKNOWN_SITE, "*", f"{packing.unknown_site} idle job(s) "
                                                      f"want a site the pool does not have"))
    return launches, packing.placed_existing, sizes


def _held_back(site: str, got: int, want: int, fit: int, room: dict[str, int],
               pool_room: int, cooling: bool,
               held: tuple[Code, str] | None) -> tuple[Code, str]:
    if held:
        return held[0], f"{want - got} more wanted; {held[1]}"
    if cooling:
        return Code.COOLDOWN, f"{want - got} more wanted; the last scale-up is still starting"
    if fit > got:
        return Code.LAUNCH_LIMIT, f"{want - got} more wanted: max_launches_per_tick reached"
    if room[site] <= pool_room:
        return Code.SITE_MAX, f"{want - got} more wanted: the site is at its executors.max"
    return Code.POOL_MAX, f"{want - got} more wanted: the pool is at max_executors"


def _scale_in(snapshot: PoolSnapshot, live: list[Executor], by_task: dict[str, StartdInfo],
              spec: ClusterSpec, state: PlannerState, count: Counter, launches: dict[str, int],
              placed: Counter, drains: dict[str, Drain], reasons: list[Reason],
              now: float, demand: dict[str, float]) -> list[StartdInfo]:
    """Idle startds to drain now: idle for ``idle_before_scale_in``, or at once at a site
    whose queue has held no job for it that long (keeping it idle only pays while jobs
    keep coming)."""
    policy = spec.autoscaling
    wait = policy.idle_before_scale_in_s
    candidates = [by_task[e.task_id] for e in live
                  if e.state is TaskState.RUNNING and e.task_id in by_task
                  and e.task_id not in drains]
    quiet = {site: now - demand.get(site, now) >= wait for site in count}
    idle = [s for s in candidates if s.idle and not s.draining and s.idle_since is not None
            and (now - s.idle_since >= wait or quiet.get(s.site, False))]
    if not idle:
        return []
    if not snapshot.fresh:
        reasons.append(Reason(Code.STALE, "*", f"{len(idle)} idle executor(s) kept: the "
                                               f"snapshot is stale ({snapshot.error})"))
        return []
    keep = Counter({s.name: s.executors_min for s in spec.sites})
    left = Counter({site: n - sum(1 for d in drains.values() if by_task.get(d.task_id)
                                  and by_task[d.task_id].site == site)
                    for site, n in count.items()})
    pool_left = sum(left.values()) + sum(launches.values())
    out: list[StartdInfo] = []
    budget = policy.max_launches_per_tick
    sized = {e.task_id: (e.cpus, e.mem) for e in live if e.cpus}
    for startd in sorted(idle, key=lambda s: (s.idle_since, s.name)):
        site = startd.site
        size = sized.get(startd.task_id)
        wanted = size is None or any(
            takes(size, j.cpus, j.memory) for j in snapshot.idle_jobs
            if j.site in (None, site))        # an executor sized to jobs serves its size only
        if (placed[site] or launches.get(site)) and wanted:
            reasons.append(Reason(Code.DEMAND_AT_SITE, site, f"{startd.name} kept: idle jobs "
                                                             f"at {site} can use it"))
            continue
        grown = state.last_scale_up.get(site)
        if grown is not None and now - grown < policy.scale_down_cooldown_s:
            reasons.append(Reason(Code.SCALE_DOWN_COOLDOWN, site,
                                  f"{startd.name} kept: the site grew {now - grown:.0f} s ago"))
            continue
        if left[site] <= keep[site] or pool_left <= policy.min_executors or budget <= 0:
            reasons.append(Reason(Code.MINIMUM, site, f"{startd.name} kept: at the minimum"
                                                      if budget > 0 else
                                                      f"{startd.name} kept: max drains this tick"))
            continue
        out.append(startd)
        left[site] -= 1
        pool_left -= 1
        budget -= 1
        why = (f"; no job queued for {site} for {now - demand[site]:.0f} s"
               if quiet.get(site) else "")
        reasons.append(Reason(Code.DRAIN, site, f"{startd.name} idle for "
                                                f"{now - startd.idle_since:.0f} s{why}: "
                                                f"draining"))
    return out
