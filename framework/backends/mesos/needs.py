"""What to launch now, pure: desired tasks minus active ones, in start order, within limits.

Start order: the master (at its fixed address) must be RUNNING and healthy before a
submitter is wanted, the submitter before any executor. Launches of a (role, site) wait
out its back-off; a black-hole site gets none; at most ``max_launches_per_tick`` executors
per site may be launching or not yet healthy at once, and at most the back-off's
``blackhole_failures`` may be unproven (not yet healthy for ``early_s``) or have died early
(:meth:`~framework.autoscaler.backoff.LaunchBackoff.launch_room`): a black hole is found
after at most that many launches, whatever the elastic loop asks for there.
"""
from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from ...actuator.actuator import missing_by_size
from ...autoscaler.backoff import LaunchBackoff
from ...autoscaler.lifecycle import Phase
from ...model import Role
from ...spec import ClusterSpec
from .offers import Need


class Reason(str, enum.Enum):
    WAITING_FOR_MASTER = "WAITING_FOR_MASTER"
    WAITING_FOR_SUBMITTER = "WAITING_FOR_SUBMITTER"
    WAITING_FOR_BROKERS = "WAITING_FOR_BROKERS"
    BACKOFF = "BACKOFF"
    BLACK_HOLE = "BLACK_HOLE"
    UNCONFIRMED_LIMIT = "UNCONFIRMED_LIMIT"
    UNPROVEN_LIMIT = "UNPROVEN_LIMIT"
    MASTER_ADDRESS_BUSY = "MASTER_ADDRESS_BUSY"
    RECONCILING = "RECONCILING"
    UNREACHABLE = "UNREACHABLE"


_RUNNING = Phase.RUNNING
#: Phases that count towards the desired number (``Phase.active``, as a set: hot path).
ACTIVE = frozenset(p for p in Phase if p.active)


@dataclass
class TaskRecord:
    """What the framework knows of one of its tasks."""

    task_id: str
    role: Role
    site: str
    phase: Phase
    launched_at: float
    agent_id: str | None = None
    state: str | None = None       # last Mesos state name, e.g. "TASK_RUNNING"
    ip: str | None = None
    healthy: bool | None = None
    healthy_at: float | None = None  # clock time of the first healthy report
    stable: bool = False             # healthy long enough to clear its site's back-off
    proven: bool = False             # healthy long enough to earn its site more launches
    restored: bool = False           # known from saved state or reconciliation, not launched
    ended_at: float | None = None
    message: str = ""
    size: tuple[float, float] | None = None   # an executor sized to jobs (cpus, MiB)
    unreachable_at: float | None = None       # clock time it was last reported unreachable
    returned: bool = False                    # came back after it was unreachable
    #: a broker task: its number; a private site's executor: the broker it registers with
    #: (framework/condor/brokers.py); None otherwise
    broker: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.phase is _RUNNING and self.healthy is True


def keep_first(recs: Iterable[TaskRecord]) -> list[TaskRecord]:
    """Tasks of one kind that should be one (masters, submitters, brokers of one number),
    the one to keep first: healthy and RUNNING, then never away (the one that ran on while
    the other was unreachable is the one the pool used meanwhile), then the oldest. The
    surplus kill (``TaskBook.surplus``) spares the first; discovery publishes it
    (``framework/discovery/announce.running_master``), so the address published is never
    that of a task about to be killed."""
    return sorted(recs, key=lambda r: (not r.confirmed, r.returned, r.launched_at))


@dataclass
class NeedsResult:
    needs: list[Need]
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    master_address: str | None = None
    #: active masters and submitters (more than one each is a surplus to kill)
    central: dict[Role, list[TaskRecord]] = field(default_factory=dict)
    #: active broker tasks by number (numbers the plan no longer has included) and the
    #: plan's broker count: duplicates and leftovers are surplus (``TaskBook.surplus``)
    brokers: dict[int, list[TaskRecord]] = field(default_factory=dict)
    broker_count: int = 1
    #: broker number → live executors registered with it (a leftover broker is kept for
    #: them until none is left)
    broker_users: dict[int, int] = field(default_factory=dict)


def role_sites(spec: ClusterSpec, role: Role) -> frozenset[str]:
    """Where a role may run: executors anywhere; the master and the brokers at the site
    whose pool holds their fixed addresses; the submitter at public sites."""
    if role is Role.EXECUTOR:
        return frozenset(s.name for s in spec.sites)
    if role in (Role.MASTER, Role.BROKER):
        return frozenset([spec.master_site.name])
    public = [s.name for s in spec.sites if not s.private]
    return frozenset(public or [s.name for s in spec.sites])


def compute_needs(spec: ClusterSpec, records: Iterable[TaskRecord], desired: dict[str, int],
                  backoff: LaunchBackoff, now: float,
                  sizes: dict[str, dict[tuple[float, float], int]] | None = None,
                  brokers: int = 1) -> NeedsResult:
    """Needs in priority order (master, extra brokers, submitter, executors per site);
    ``sizes``: per site, how many of its desired executors are sized to jobs, by size (the
    rest are of the role's size); ``brokers``: the plan's broker count (the central manager
    is broker 0: ``brokers - 1`` broker tasks; a private site's executors wait for them)."""
    active: dict[tuple[Role, str], list[TaskRecord]] = {}
    leaving_master = None
    away: dict[Role, list[TaskRecord]] = {Role.MASTER: [], Role.SUBMITTER: [], Role.BROKER: []}
    users: Counter[int] = Counter()
    for rec in records:
        if rec.role is Role.EXECUTOR and rec.broker is not None and rec.phase is not Phase.ENDED:
            users[rec.broker] += 1          # it may run (even unreachable): it uses it
        if rec.phase in ACTIVE:
            active.setdefault((rec.role, rec.site), []).append(rec)
        elif rec.role is Role.MASTER and rec.phase is Phase.KILLING:
            leaving_master = rec
        elif rec.phase is Phase.UNREACHABLE and rec.role in away:
            away[rec.role].append(rec)
    out = NeedsResult([])
    masters = [r for (role, _), rs in active.items() if role is Role.MASTER for r in rs]
    subs = [r for (role, _), rs in active.items() if role is Role.SUBMITTER for r in rs]
    out.central = {Role.MASTER: masters, Role.SUBMITTER: subs}
    for (role, _), rs in active.items():
        if role is Role.BROKER:
            for r in rs:
                if r.broker is not None:
                    out.brokers.setdefault(r.broker, []).append(r)
    out.broker_count, out.broker_users = brokers, dict(users)
    # an unreachable master or submitter may run on behind the partition: it keeps its
    # place (and the master its address) until the operator's limit, then is replaced
    kept = {role: _kept_unreachable(spec, role, recs, now, out) for role, recs in away.items()}
    ready_master = next((r for r in masters if r.confirmed), None) or next(
        (r for r in kept[Role.MASTER] if _was_ready(r)), None)
    out.master_address = None if ready_master is None else \
        ready_master.ip if spec.master_dynamic else spec.master_address

    def want(role: Role, sites: frozenset[str], missing: int,
             size: tuple[float, float] | None = None) -> None:
        if missing <= 0:
            return
        allowed = []
        for site in sorted(sites):
            blocked = backoff.blocked((role.value, site), now)
            if blocked:
                out.reasons.append((Reason(blocked[0].value), blocked[1]))
            else:
                allowed.append(site)
        if allowed:
            r = spec.roles[role]
            cpus, mem = size or (r.cpus, r.mem_mb)
            out.needs.append(Need(role.value, frozenset(allowed), missing, cpus, mem,
                                  r.disk_mb, size=size))

    if leaving_master is not None and not masters and not _past_limit(spec, leaving_master,
                                                                      now):
        # the master's address is fixed: a replacement launched while the old container
        # still holds it fails ("Address already in use"); wait for the kill to end
        out.reasons.append((Reason.MASTER_ADDRESS_BUSY,
                            f"master {leaving_master.task_id} is being killed; its address "
                            f"{spec.master_address} is free once it ends"))
    else:
        want(Role.MASTER, role_sites(spec, Role.MASTER), 1 - len(masters) - len(kept[Role.MASTER]))
    if not ready_master:
        out.reasons.append((Reason.WAITING_FOR_MASTER, "master not yet running and healthy"))
        return out
    # the extra brokers, each at its fixed address (which one: the framework, by number)
    # counted by number: two tasks of one number (one back from a partition after its
    # replacement) or a number the plan no longer has (a smaller count) stand in for none
    # of the others
    planned = range(1, brokers)
    brokers_up = [r for (role, _), rs in active.items() if role is Role.BROKER for r in rs]
    held = {r.broker for r in brokers_up + kept[Role.BROKER] if r.broker in planned}
    want(Role.BROKER, role_sites(spec, Role.BROKER), brokers - 1 - len(held))
    brokers_ready = len({r.broker for r in brokers_up if r.confirmed and r.broker in planned}
                        | {r.broker for r in kept[Role.BROKER]
                           if _was_ready(r) and r.broker in planned}) >= brokers - 1
    want(Role.SUBMITTER, role_sites(spec, Role.SUBMITTER), 1 - len(subs) - len(kept[Role.SUBMITTER]))
    if not any(r.confirmed for r in subs) and not any(_was_ready(r)
                                                      for r in kept[Role.SUBMITTER]):
        out.reasons.append((Reason.WAITING_FOR_SUBMITTER, "submitter not yet running and "
                                                          "healthy"))
        return out
    cap = spec.autoscaling.max_launches_per_tick
    for site in spec.sites:
        running = active.get((Role.EXECUTOR, site.name), [])
        missing = desired.get(site.name, 0) - len(running)
        if missing <= 0:
            continue
        if site.private and not brokers_ready:
            out.reasons.append((Reason.WAITING_FOR_BROKERS,
                                f"site {site.name}: its executors register with {brokers} "
                                f"brokers; not all are running and healthy yet"))
            continue
        blocked = backoff.blocked((Role.EXECUTOR.value, site.name), now)
        if blocked:       # said even when the limits below leave no room
            out.reasons.append((Reason(blocked[0].value), blocked[1]))
            continue
        unconfirmed = sum(1 for r in running if r.phase is not _RUNNING or r.healthy is not True)
        room = cap - unconfirmed
        if missing > room:
            out.reasons.append((Reason.UNCONFIRMED_LIMIT,
                                f"site {site.name}: {unconfirmed} executors not yet healthy "
                                f"(limit {cap}); {missing - max(room, 0)} wait"))
        # the acceptance bound "at most blackhole_failures launches at a black hole before
        # it is held" must hold under elastic demand too, where max_launches_per_tick
        # launches would land before the first early death is seen (see backoff.py)
        unproven = sum(1 for r in running if not (r.proven or r.stable or r.restored))
        proven = len(running) - unproven
        proven_room = backoff.launch_room(site.name, unproven, now, proven)
        if min(missing, room) > proven_room:
            p = backoff.policy
            out.reasons.append((Reason.UNPROVEN_LIMIT,
                                f"site {site.name}: {unproven} executor(s) not yet healthy for "
                                f"{p.prove_s:g} s, {backoff.early_deaths(site.name, now)} died "
                                f"early (limit {p.blackhole_failures} before a black hole is "
                                f"found); {min(missing, room) - proven_room} wait"))
        allowed = min(missing, room, proven_room)
        have = Counter(rec.size for rec in running)
        for size, n in missing_by_size(have, desired.get(site.name, 0),
                                       (sizes or {}).get(site.name) or {}):
            want(Role.EXECUTOR, frozenset([site.name]), min(n, allowed), size)
            allowed -= min(n, allowed)
    return out


def _was_ready(rec: TaskRecord) -> bool:
    """An unreachable central task that was healthy before (or that a restarted framework
    found running: it does not know)."""
    return rec.healthy_at is not None or rec.restored


def _limit(spec: ClusterSpec, role: Role) -> float | None:
    """The operator's ``replace_unreachable`` for ``role`` (None: never)."""
    mesos = spec.backend.mesos
    if mesos is None:
        return None
    return mesos.replace_unreachable_master_s if role in (Role.MASTER, Role.BROKER) \
        else mesos.replace_unreachable_submitter_s


def replaced_unreachable(spec: ClusterSpec, rec: TaskRecord, now: float) -> bool:
    """An unreachable central task away longer than the operator allows: no longer counted
    (:func:`compute_needs` wants its replacement), so it holds no broker number either."""
    return rec.phase is Phase.UNREACHABLE and _past_limit(spec, rec, now)


def _past_limit(spec: ClusterSpec, rec: TaskRecord, now: float) -> bool:
    """A task being killed that became unreachable, for longer than the operator allows."""
    limit = _limit(spec, rec.role)
    return rec.unreachable_at is not None and limit is not None \
        and now - rec.unreachable_at >= limit


def _kept_unreachable(spec: ClusterSpec, role: Role, recs: list[TaskRecord], now: float,
                      out: NeedsResult) -> list[TaskRecord]:
    """The unreachable ``role`` tasks still counted as present (each said in a reason)."""
    limit = _limit(spec, role)
    kept = []
    for rec in recs:
        since = now - (rec.unreachable_at if rec.unreachable_at is not None else now)
        if limit is not None and since >= limit:
            if role is Role.MASTER:
                out.reasons.append((Reason.UNREACHABLE,
                                    f"master {rec.task_id} unreachable for {since:.0f} s (agent "
                                    f"{rec.agent_id}): replacing it; a replacement cannot start "
                                    f"while the old one still holds {spec.master_address}"))
            continue
        kept.append(rec)
        then = "never replaced while it may run" if limit is None else \
            f"replaced in {limit - since:.0f} s unless it returns"
        out.reasons.append((Reason.UNREACHABLE,
                            f"{role.value} {rec.task_id} unreachable for {since:.0f} s (agent "
                            f"{rec.agent_id}): {then}"))
    return kept
