"""Framework mode: the pymesos scheduler that keeps the pool's tasks running on Mesos.

Callbacks arrive on the driver's IO thread, :meth:`MesosFramework.tick` on the
controller's; one lock guards the state. Offers are answered by the pure planners
(:mod:`.needs`, :mod:`.offers`); this module only applies their result.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections import Counter
from typing import Any

from ...autoscaler.backoff import LaunchBackoff
from ...condor.brokers import least_loaded, plan_brokers
from ...autoscaler.lifecycle import Phase
from ...clock import Clock
from ...mesos.protocol import TaskState
from ...model import Role
from ...spec import ClusterSpec
from ...state import FrameworkState, StateStore
from .book import TaskBook
from .needs import NeedsResult, Reason, TaskRecord, compute_needs, replaced_unreachable
from .offers import Offer, SiteMatcher, pack, parse_offer
from .parts import BACKGROUND, Options, PoolStatus, QuietCallbacks, framework_info
from .reconcile import Reconciler, explicit
from .tasks import CredentialSource, TaskInfoFactory, new_task_id

__all__ = ["MesosFramework", "Options", "PoolStatus", "framework_info"]

log = logging.getLogger(__name__)


class MesosFramework(QuietCallbacks):
    """Keeps one master, one submitter and the desired executors per site running.

    Implements pymesos' scheduler interface without importing pymesos (its import installs
    a SIGINT handler, which only the main thread may do)."""

    def __init__(self, spec: ClusterSpec, store: StateStore, clock: Clock,
                 options: Options | None = None,
                 credentials: CredentialSource | None = None):
        self.spec, self.clock = spec, clock
        self.opts = options or Options()
        self.matcher = SiteMatcher(spec.sites)
        self.backoff = LaunchBackoff(self.opts.backoff)
        self.book = TaskBook(spec.pool.name, store, clock, self.opts, self.backoff, credentials)
        self.tasks = TaskInfoFactory(spec, credentials)
        #: the connection brokers (framework/condor/brokers.py): broker tasks 1 … n-1, and
        #: which broker each new executor of a private site registers with
        self.brokers = plan_brokers(spec).count
        self.desired = {s.name: s.executors_min for s in spec.sites}
        #: site → executors sized to jobs wanted, by (cpus, MiB) (of ``desired``)
        self.desired_sizes: dict[str, dict[tuple[float, float], int]] = {}
        self.driver: Any = None
        self._lock = threading.RLock()
        self._connected = False
        self.reconciler = Reconciler(self.opts)
        self._was_reconciling = True
        self._say_pending_at = 0.0
        self._suppressed = False
        self._last_needs = NeedsResult([])
        self._next_chase = 0.0
        self._next_unreachable = 0.0

    # -- what the book knows (read-only views) ---------------------------------------
    @property
    def records(self) -> dict[str, TaskRecord]:
        """Task id → record (the book's; mutated under the framework's lock)."""
        return self.book.records

    def snapshot_records(self) -> list[TaskRecord]:
        """A copy of the records, taken under the lock (for other threads)."""
        with self._lock:
            return [dataclasses.replace(r) for r in self.book.records.values()]

    @property
    def saved(self) -> FrameworkState:
        return self.book.saved

    def saved_controls(self) -> dict[str, Any] | None:
        """A copy of the operators' saved controls (None: none), taken under the lock."""
        with self._lock:
            return copy.deepcopy(self.book.saved.controls)

    def save_controls(self, doc: dict[str, Any]) -> str | None:
        """Save the operators' controls with the framework's state, under the lock (one
        writer: the task records are saved with them as they are); None when saved, else
        why not (the book retries every tick until it is)."""
        with self._lock:
            self.book.saved.controls = copy.deepcopy(doc)
            return None if self.book.save() else self.book.save_error or "unknown failure"

    @property
    def launches(self) -> int:
        return self.book.launches

    @property
    def failures(self) -> int:
        return self.book.failures

    # -- the controller's side ----------------------------------------------------
    def set_desired_executors(self, site: str, count: int,
                              sizes: dict[tuple[float, float], int] | None = None) -> None:
        """``count`` executors at ``site``; ``sizes``: of them, how many sized to jobs, by
        (cpus, memory MiB); the rest of the executor role's size."""
        self.spec.site(site)  # KeyError for an unknown site
        clean = {(float(c), float(m)): int(n) for (c, m), n in (sizes or {}).items()
                 if int(n) > 0}
        for (cpus, mem) in clean:
            if not (0 < cpus and 0 < mem):
                raise ValueError(f"executor size ({cpus:g} cores, {mem:g} MiB) at {site}: "
                                 f"cores and memory must be positive")
        with self._lock:
            self.desired[site] = max(0, int(count))
            if clean:
                self.desired_sizes[site] = clean
            else:
                self.desired_sizes.pop(site, None)

    def held_sites(self) -> dict[str, str]:
        """Sites where no executor may launch now (black hole, back-off) → why."""
        with self._lock:
            now = self.clock.now()
            out = {}
            for site in self.spec.sites:
                blocked = self.backoff.blocked((Role.EXECUTOR.value, site.name), now)
                if blocked:
                    out[site.name] = blocked[1]
            return out

    def kill(self, task_id: str) -> bool:
        """Ask Mesos to kill one task by id (the autoscaler picks which)."""
        with self._lock:
            if not self.book.killing(task_id, self.clock.now()):
                return False
        return self._call("killTask", {"value": task_id})

    def tick(self) -> PoolStatus:
        """Periodic work: finish reconciliation, chase launches and kills that got no
        answer, replace surplus central tasks, revive offers, save state. Driver calls are
        made after the lock is released (pymesos' IO thread takes its own lock, then ours)."""
        now = self.clock.now()
        calls: list[tuple] = []
        with self._lock:
            rec = self.reconciler
            settling = rec.settling(now)
            if self._connected:
                calls += rec.due(now)
                reconciling = settling or bool(rec.pending)
                if self._was_reconciling and not reconciling:
                    log.info("reconciliation done: %d task(s) known", self.book.active_count())
                elif rec.pending and now >= self._say_pending_at:
                    self._say_pending_at = now + 30.0
                    log.info("reconciliation: %s", rec.describe(now))
                self._was_reconciling = reconciling
            self.book.mark_stable(now)
            needs = self._needs(now)
            if self._connected and not settling:
                # a surplus master, submitter or broker is killed only when every one of
                # them has answered: the unanswered one may be the one the pool uses
                if not rec.waiting_for(self.records, {Role.MASTER, Role.SUBMITTER,
                                                      Role.BROKER}):
                    calls += [("killTask", {"value": t}) for t in self.book.surplus(needs, now)]
                if now >= self._next_chase:
                    self._next_chase = now + 1.0
                    calls += self.book.chase(now)
                away = self.book.unreachable()
                if away and now >= self._next_unreachable:
                    # Mesos says TASK_RUNNING when their agent returns; this is in case that
                    # update was lost (master-made updates are sent once)
                    self._next_unreachable = now + self.opts.unreachable_reconcile_s
                    calls.append(("reconcileTasks", explicit(away)))
            wanted = bool(needs.needs)
            revive = self._connected and not settling and wanted and self._suppressed
            if revive:
                self._suppressed = False
                calls.append(("reviveOffers", [self.spec.backend.mesos.role]))
            if self.book.dirty:
                self.book.save()
            status = self._status(needs)
        for call in calls:
            self._call(*call)
        return status

    def status(self) -> PoolStatus:
        with self._lock:
            return self._status(self._last_needs)

    def _status(self, needs: NeedsResult) -> PoolStatus:
        now = self.clock.now()
        status = self.book.status(needs, self._connected,
                                  self.reconciler.settling(now) or bool(self.reconciler.pending))
        missing = getattr(self.driver, "no_leader", None)
        if missing:       # ZooKeeper names no leading master: nothing else can go on
            status.reasons.insert(0, ("NO_LEADER", missing))
        return status

    # -- pymesos callbacks ------------------------------------------------------------
    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        log.info("subscribed as framework %s", framework_id.get("value"))
        self._subscribed(driver, framework_id["value"])

    def reregistered(self, driver: Any, master_info: Any) -> None:
        log.info("resubscribed to %s", master_info.get("hostname"))
        self._subscribed(driver, driver.framework_id)

    def disconnected(self, driver: Any) -> None:
        self._connected = False  # no lock: pymesos calls this holding its own lock

    def error(self, driver: Any, message: str) -> None:
        log.error("master error: %s", message)
        if "has been removed" in message or "framework removed" in message.lower():
            # Our failover timeout ran out (or an operator tore us down): the master killed
            # our tasks and will never take this id again. Start afresh as a new framework.
            with self._lock:
                log.warning("framework %s was removed by the master: subscribing anew",
                            self.saved.framework_id)
                self.saved.framework_id = None
                self.book.end_all()
                self.book.save()
            framework = getattr(driver, "_framework", None)
            if isinstance(framework, dict):
                framework.pop("id", None)

    def resourceOffers(self, driver: Any, offers: list[dict]) -> None:
        self.driver = driver
        now = self.clock.now()
        parsed: list[Offer] = []
        for raw in offers:
            try:
                parsed.append(parse_offer(raw, self.matcher))
            except ValueError as exc:
                log.error("%s: %.200s", exc, raw)
                if isinstance(raw, dict) and isinstance(raw.get("id"), dict):
                    self._call("declineOffer", [raw["id"]], {"refuse_seconds": self.opts.refuse_s})
        with self._lock:
            if self.reconciler.settling(now):
                accepts, unused = [], parsed
                refuse = 1.0
            else:
                accepts, unused = self._place(parsed, now)
                refuse = self.opts.refuse_s if self._last_needs.needs else self.opts.idle_refuse_s
            if accepts and not self.book.save():
                # the tasks could not be recorded: launching them would make tasks a restart
                # cannot reconcile. Forget them and give the offers back.
                for _, infos in accepts:
                    for info in infos:
                        self.book.unlaunch(info["task_id"]["value"])
                used = {offer_id for offer_id, _ in accepts}
                unused += [o for o in parsed if o.id in used]
                accepts, refuse = [], 1.0
            suppress = not self.reconciler.settling(now) and not self._last_needs.needs and not \
                self._suppressed
            if suppress:
                self._suppressed = True
        for offer_id, tasks in accepts:
            self._call("launchTasks", [{"value": offer_id}], tasks,
                       {"refuse_seconds": self.opts.refuse_s})
        if unused:
            self._call("declineOffer", [{"value": o.id} for o in unused],
                       {"refuse_seconds": refuse})
        if suppress:
            self._call("suppressOffers", [self.spec.backend.mesos.role])

    def statusUpdate(self, driver: Any, status: dict) -> None:
        """Apply one update. Raises only for an update without task id or state (then
        there is nothing to acknowledge either); pymesos acknowledges after this returns."""
        task_id = status["task_id"]["value"]
        state = TaskState(status["state"])
        kill = False
        with self._lock:
            rec = self.records.get(task_id) or self.book.adopt(task_id)
            if rec is None:
                log.warning("update for a task that is not ours: %s", task_id)
                return
            asks = self.reconciler.answered(task_id, self.clock.now())   # any update answers
            if status.get("reason") == "REASON_INVALID_OFFERS" and rec.phase is not Phase.LAUNCHING:
                # a repeated ACCEPT of a task that did start: the task itself is fine
                log.warning("ignored %s for %s: it started already", state.short, task_id)
            else:
                kill = self.book.apply(rec, state, status)
        for call in asks:
            self._call(*call)
        if kill:
            self._call("killTask", {"value": task_id})

    # -- internals (lock held) ---------------------------------------------------------
    def _subscribed(self, driver: Any, framework_id: str) -> None:
        with self._lock:
            self.driver = driver
            self._connected = True
            self._suppressed = False  # a SUBSCRIBE without suppressed_roles revives
            if self.saved.framework_id != framework_id:
                self.saved.framework_id = framework_id
                self.book.save()
            calls = self.reconciler.start(self.records.values(), self.clock.now())
        for call in calls:
            self._call(*call)

    def _needs(self, now: float) -> NeedsResult:
        needs = compute_needs(self.spec, self.records.values(), self.desired, self.backoff, now,
                              self.desired_sizes, self.brokers)
        waiting = self.reconciler.describe(now)
        if waiting:
            needs.reasons.insert(0, (Reason.RECONCILING, waiting))
        elif self.reconciler.settling(now):
            needs.reasons.insert(0, (Reason.RECONCILING, "waiting for the master's answers "
                                                          "after the subscription"))
        self._last_needs = needs
        return needs

    def _place(self, offers: list[Offer], now: float) -> tuple[list, list[Offer]]:
        needs = self._needs(now)
        placements, unused = pack(offers, needs.needs)
        accepts = []
        for placement in placements:
            offer, infos = placement.offer, []
            for need, ports in placement.tasks:
                role, site = Role(need.role), offer.site
                assert site is not None
                broker = self._broker_for(role, site)
                if role is Role.BROKER and broker is None:
                    continue                      # every broker number is taken meanwhile
                task_id = new_task_id(self.spec.pool.name, role, site, need.size, broker)
                infos.append(self.tasks.build(role, site, task_id, offer.agent_id, ports,
                                              offer.allocation_role, need.size, broker))
                self.book.launched(task_id, role, site, offer.agent_id, now, need.size,
                                   broker)
            if infos:
                accepts.append((offer.id, infos))
            else:
                unused.append(offer)
        return accepts, unused

    def _broker_for(self, role: Role, site: str) -> int | None:
        """A new broker task: the lowest broker number no live task holds. A new executor
        of a private site: the broker with the fewest live executors (lowest number on a
        tie; framework/condor/brokers.least_loaded), so even two executors use two
        brokers. None: no broker to choose (one broker, a public site, another role)."""
        if self.brokers < 2 or role not in (Role.BROKER, Role.EXECUTOR):
            return None
        live = [r for r in self.records.values() if r.role is role and r.phase is not Phase.ENDED]
        if role is Role.BROKER:
            # a broker unreachable beyond replace_unreachable.master is replaced under its
            # number (compute_needs wants one more): it holds the number no longer
            now = self.clock.now()
            free = sorted(set(range(1, self.brokers)) - {
                r.broker for r in live if not replaced_unreachable(self.spec, r, now)})
            return free[0] if free else None
        if not self.spec.site(site).private:
            return None
        assigned = Counter(r.broker for r in live if r.broker is not None)
        return least_loaded(assigned, self.brokers)

    def _call(self, method: str, *args: Any) -> bool:
        """One call through the driver: in the background where the driver has a call
        pool (launches, declines, kills must not hold up the event stream)."""
        driver = self.driver
        if driver is None:
            return False
        fn = getattr(driver, method)
        if hasattr(driver, "submit") and method in BACKGROUND:
            driver.submit(fn, *args)
            return True
        if hasattr(driver, "call"):
            return driver.call(fn, *args)
        fn(*args)
        return True
