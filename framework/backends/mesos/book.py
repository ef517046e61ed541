"""The framework's book of its tasks: records, lifecycle steps, back-off feedback, chasing
launches and kills that got no answer, surplus central tasks, persistence and the status
record.

An object the :class:`~framework.backends.mesos.framework.MesosFramework` holds; it knows
nothing of the driver or the connection: every method runs with the framework's lock held
and returns the driver calls to make instead of making them.
"""
from __future__ import annotations

import logging
from collections import Counter, deque

from ...autoscaler.backoff import LaunchBackoff
from ...autoscaler.lifecycle import Action, Phase, step
from ...clock import Clock
from ...mesos.protocol import TaskState
from ...model import Role
from ...state import FrameworkState, StateStore
from .needs import ACTIVE, NeedsResult, TaskRecord, keep_first
from .parts import NOT_THE_SITE, Options, PoolStatus, task_ip
from .reconcile import explicit
from .tasks import CredentialSource, parse_task_id, task_broker, task_size

log = logging.getLogger("framework.backends.mesos")


class TaskBook:
    """Task records and what follows from their updates (see the module docstring)."""

    def __init__(self, pool: str, store: StateStore, clock: Clock, opts: Options,
                 backoff: LaunchBackoff, credentials: CredentialSource | None = None) -> None:
        self.pool, self.store, self.clock, self.opts = pool, store, clock, opts
        self.backoff, self.credentials = backoff, credentials
        self.records: dict[str, TaskRecord] = {}
        self.saved = store.load()
        self.dirty = False
        #: why the last save failed (None: it did not)
        self.save_error: str | None = None
        self.launches = 0
        self.failures = 0
        self._healthy_since: dict[str, float] = {}   # healthy, not yet stable
        self._asked: dict[str, float] = {}  # LAUNCHING / KILLING task → when we last asked
        self._ended: deque[tuple[str, float]] = deque()
        self._leftover_said: set[int] = set()   # leftover brokers kept for their executors
        for task_id, agent in self.saved.tasks.items():
            parsed = parse_task_id(task_id, pool)
            if parsed:
                self.records[task_id] = TaskRecord(task_id, parsed[0], parsed[1],
                                                   Phase.STARTING, clock.now(), agent,
                                                   restored=True, size=task_size(task_id),
                                                   broker=task_broker(task_id))

    # -- records ---------------------------------------------------------------------
    def launched(self, task_id: str, role: Role, site: str, agent_id: str, now: float,
                 size: tuple[float, float] | None = None, broker: int | None = None) -> None:
        """A task was put into an ACCEPT (not yet saved)."""
        self.records[task_id] = TaskRecord(task_id, role, site, Phase.LAUNCHING, now, agent_id,
                                           size=size, broker=broker)
        self._asked[task_id] = now
        self.launches += 1

    def unlaunch(self, task_id: str) -> None:
        """Forget a launch that will not be made (the state could not be saved)."""
        if self.credentials is not None:
            self.credentials.release(task_id)
        self.records.pop(task_id, None)
        self._asked.pop(task_id, None)
        self.launches -= 1

    def adopt(self, task_id: str) -> TaskRecord | None:
        """The record of one of this pool's tasks we did not know (None: not ours)."""
        parsed = parse_task_id(task_id, self.pool)
        if parsed is None:
            return None
        rec = TaskRecord(task_id, parsed[0], parsed[1], Phase.STARTING, self.clock.now(),
                         restored=True, size=task_size(task_id), broker=task_broker(task_id))
        self.records[task_id] = rec
        self.dirty = True
        return rec

    def killing(self, task_id: str, now: float) -> bool:
        """Mark a kill we ask for; False if the task is unknown or ended."""
        rec = self.records.get(task_id)
        if rec is None or rec.phase is Phase.ENDED:
            return False
        rec.phase = Phase.KILLING
        self._asked[task_id] = now
        return True

    def end_all(self) -> None:
        """The master removed the framework: none of its tasks runs any more."""
        for rec in self.records.values():
            if rec.phase is not Phase.ENDED:
                rec.phase, rec.ended_at, rec.state = Phase.ENDED, self.clock.now(), None
        self._asked.clear()

    def active_count(self) -> int:
        return sum(1 for r in self.records.values() if r.phase in ACTIVE)

    def unreachable(self) -> dict[str, str | None]:
        """Tasks reported unreachable → their agent ids (to reconcile now and then)."""
        return {r.task_id: r.agent_id for r in self.records.values()
                if r.phase is Phase.UNREACHABLE}

    # -- updates ---------------------------------------------------------------------
    def apply(self, rec: TaskRecord, state: TaskState, status: dict) -> bool:
        """One status update; True if the task must be killed."""
        now = self.clock.now()
        before = rec.phase
        # a reconciliation answer that repeats the state says only "Reconciliation: Latest
        # task state": the message that said why (say, the agent's health check timed out)
        # stays (apache/mesos src/master/master.cpp: reconcile answers carry
        # REASON_RECONCILIATION)
        repeated = (rec.state == state.value and bool(rec.message)
                    and status.get("reason") == "REASON_RECONCILIATION")
        nxt = step(rec.phase, state)
        rec.phase, rec.state = nxt.phase, state.value
        if state is not TaskState.STAGING and self.credentials is not None:
            self.credentials.release(rec.task_id)   # fetched (it started) or never will
        if before is not nxt.phase and before in (Phase.LAUNCHING, Phase.KILLING):
            self._asked.pop(rec.task_id, None)  # answered
        if not repeated:
            rec.message = str(status.get("message", ""))[:300]
        if status.get("agent_id"):
            rec.agent_id = status["agent_id"].get("value", rec.agent_id)
        if state is TaskState.RUNNING:
            rec.ip = task_ip(status) or rec.ip
        if "healthy" in status and rec.phase is not Phase.ENDED:
            rec.healthy = bool(status["healthy"])
            if rec.healthy and rec.healthy_at is None:
                rec.healthy_at = now
                self._healthy_since[rec.task_id] = now
        if state is TaskState.UNREACHABLE and rec.unreachable_at is None:
            # since when: Mesos says (unreachable_time), so a restarted framework knows too
            rec.unreachable_at = now - self._unreachable_for(status)
            if nxt.phase is Phase.UNREACHABLE:
                rec.healthy = None                      # its health is not known now
                log.warning("%s %s unreachable (agent %s): it may still run; %s", rec.role,
                            rec.task_id, rec.agent_id, rec.message)
        elif nxt.action is Action.RETURNED:
            rec.returned = True
            log.warning("%s %s is back after %.0f s unreachable", rec.role, rec.task_id,
                        now - (rec.unreachable_at or now))
            rec.unreachable_at = None
        elif before is Phase.UNREACHABLE and nxt.phase is Phase.ENDED:
            self.failures += 1      # ended behind a partition: no back-off (not the site's)
            log.warning("%s %s ended while unreachable: %s %s", rec.role, rec.task_id,
                        state.short, rec.message)
        if nxt.action is Action.FAILED:
            self.failures += 1
            if status.get("reason") not in NOT_THE_SITE and not rec.restored:
                self.backoff.failed((rec.role.value, rec.site), now, now - rec.launched_at,
                                    site_fault=not self._address_held(rec))
            log.warning("%s %s ended: %s %s", rec.role, rec.task_id, state.short, rec.message)
        if rec.phase is Phase.ENDED and before is not Phase.ENDED:
            rec.ended_at = now
            self._ended.append((rec.task_id, now))
            self._healthy_since.pop(rec.task_id, None)
            self._asked.pop(rec.task_id, None)
            self.dirty = True
        return nxt.action is Action.KILL

    def _unreachable_for(self, status: dict) -> float:
        """Seconds since Mesos marked the task unreachable (0 if it does not say)."""
        nanos = (status.get("unreachable_time") or {}).get("nanoseconds")
        try:
            return max(0.0, self.clock.wall() - int(nanos) / 1e9) if nanos is not None else 0.0
        except (TypeError, ValueError):
            return 0.0

    def _address_held(self, rec: TaskRecord) -> bool:
        """A master (or broker) whose launch may have failed on its fixed address, still
        held by an unreachable master (a broker of the same number) behind a partition:
        not the site's fault (no back-off)."""
        return rec.role in (Role.MASTER, Role.BROKER) and any(
            r.role is rec.role and r.phase is Phase.UNREACHABLE and r.broker == rec.broker
            for r in self.records.values())

    # -- periodic work ---------------------------------------------------------------
    def chase(self, now: float) -> list[tuple]:
        """Launches with no update and kills with no end after their timeouts: ask again
        (a lost ACCEPT is answered TASK_LOST by an explicit reconciliation)."""
        calls: list[tuple] = []
        stale = []
        for task_id, asked in self._asked.items():
            rec = self.records.get(task_id)
            if rec is None or rec.phase not in (Phase.LAUNCHING, Phase.KILLING):
                stale.append(task_id)
            elif rec.phase is Phase.LAUNCHING and now - asked >= self.opts.launch_timeout_s:
                calls.append(("reconcileTasks", explicit({task_id: rec.agent_id})))
                self._asked[task_id] = now
            elif rec.phase is Phase.KILLING and now - asked >= self.opts.kill_retry_s:
                calls.append(("killTask", {"value": task_id}))
                self._asked[task_id] = now
        for task_id in stale:
            del self._asked[task_id]
        return calls

    def mark_stable(self, now: float) -> None:
        """Tasks healthy for the back-off's ``prove_s`` earn their site launches, for its
        ``early_s`` clear their (role, site) back-off; ended tasks are forgotten after
        ``forget_ended_s``."""
        policy = self.backoff.policy
        for task_id, since in list(self._healthy_since.items()):
            rec = self.records.get(task_id)
            if now - since >= policy.prove_s and rec is not None and rec.confirmed:
                rec.proven = True
            if now - since >= policy.early_s:
                del self._healthy_since[task_id]
                if rec is not None and rec.confirmed:
                    rec.stable = True
                    self.backoff.stable((rec.role.value, rec.site))
        while self._ended and now - self._ended[0][1] > self.opts.forget_ended_s:
            task_id, _ = self._ended.popleft()
            rec = self.records.get(task_id)
            if rec is not None and rec.phase is Phase.ENDED:
                del self.records[task_id]

    def surplus(self, needs: NeedsResult, now: float) -> list[str]:
        """Tasks to kill as surplus (docs/brokers.md):

        - more than one master or submitter (a restart adopted a duplicate, or one came
          back from a partition after it was replaced), or more than one broker task of
          one number: keep the one :func:`~.needs.keep_first` puts first (healthy, never
          away, oldest; the one that ran on while the other was unreachable is the one
          the pool used meanwhile; for the master and a broker it is the one at the fixed
          address, as its launch could succeed only with the address free) and kill the
          others;
        - a broker whose number the plan no longer has (``network.brokers.count``
          lowered): killed once no live executor registers with it (executors keep their
          broker for life; until they end it stays, one task of that number)."""
        out = []
        for role, recs in needs.central.items():
            out += self._keep_one(str(role), recs, now)
        for number, recs in sorted(needs.brokers.items()):
            users = needs.broker_users.get(number, 0)
            if number < needs.broker_count or users:
                if number >= needs.broker_count and number not in self._leftover_said:
                    self._leftover_said.add(number)
                    log.warning("broker %d is no longer planned (%d broker(s)); kept while "
                                "%d executor(s) registered with it run", number,
                                needs.broker_count, users)
                out += self._keep_one(f"broker {number}", recs, now)
                continue
            self._leftover_said.discard(number)
            for rec in recs:
                log.warning("broker %s %s is no longer planned (%d broker(s)) and no "
                            "executor uses it: killing it", number, rec.task_id,
                            needs.broker_count)
                if self.killing(rec.task_id, now):
                    out.append(rec.task_id)
        return out

    def _keep_one(self, what: str, recs: list[TaskRecord], now: float) -> list[str]:
        """Kill all of ``recs`` but the first by :func:`~.needs.keep_first`."""
        if len(recs) < 2:
            for rec in recs:
                rec.returned = False            # alone: the established one from now on
            return []
        out = []
        for extra in keep_first(recs)[1:]:
            log.warning("surplus %s %s: killing it", what, extra.task_id)
            if self.killing(extra.task_id, now):
                out.append(extra.task_id)
        return out

    def save(self) -> bool:
        """Persist the framework id, live task ids and the operators' controls
        (``saved.controls``); False (logged, ``save_error`` says why; retried next tick)
        if the store failed."""
        tasks = {r.task_id: r.agent_id for r in self.records.values()
                 if r.phase is not Phase.ENDED}
        try:
            self.store.save(FrameworkState(self.saved.framework_id, tasks,
                                           self.saved.controls))
        except Exception as exc:  # ZooKeeper connection loss, full disk, …
            log.error("cannot save the framework state: %s", exc)
            self.dirty, self.save_error = True, str(exc) or type(exc).__name__
            return False
        self.saved.tasks, self.dirty, self.save_error = tasks, False, None
        return True

    def status(self, needs: NeedsResult, connected: bool, reconciling: bool) -> PoolStatus:
        raw = Counter((r.role, r.site, r.phase) for r in self.records.values())
        counts = Counter({(role.value, site, phase.value): n
                          for (role, site, phase), n in raw.items() if phase is not Phase.ENDED})
        return PoolStatus(connected, reconciling, dict(counts),
                          [(code.value, text) for code, text in needs.reasons],
                          needs.master_address, self.launches, self.failures)
