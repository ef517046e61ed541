"""Reconciliation as Mesos asks frameworks to do it (docs/reconciliation.md), an object
the framework holds (every method runs with its lock held and returns calls to make).

After every (re-)subscription: one explicit RECONCILE of every task we know, each with
its ``agent_id`` (a new leader answers for a task it does not know only when told its
agent: ``Master::_reconcileTasks`` case 3), and one implicit RECONCILE (tasks the master
knows and we do not). A task without an answer is *unanswered*, never lost: it keeps
counting as present, so nothing replaces a central manager that may still run. The
unanswered are asked again after a truncated exponential back-off (1, 2, 4 s …, at most
``reconcile_retry_s``), reset by every answer (answers mean agents are coming back: the
last ones are then asked for within a second or two). A retry asks for one task per agent
(a probe: the new leader answers for none of an agent's tasks until the agent is back, and
for all of them after); the first answer from an agent in a round asks for the rest of
its tasks at once. With 10 tasks an agent that is a tenth of the entries of asking for
every task each time (``reconcile_per_agent=False``: every task, every time). Launches wait only
``reconcile_settle_s`` after a subscription, for the implicit answers. Every
``implicit_reconcile_s`` an implicit RECONCILE finds tasks the master has and we lost.
"""
from __future__ import annotations

from typing import Iterable

from ...autoscaler.lifecycle import Phase
from ...model import Role
from .needs import TaskRecord
from .parts import Options


class Reconciler:
    """Which tasks wait for an answer, and when to ask again (see the module docstring)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.pending: dict[str, str | None] = {}     # task id → its agent id, if known
        self._by_agent: dict[str | None, set[str]] = {}   # agent id → its pending tasks
        self._followed: set[str] = set()     # agents whose tasks were all asked this round
        self.began = 0.0                               # the (re-)subscription
        self._settle_until = float("inf")              # no launch before the first round
        self._delay = opts.reconcile_first_retry_s
        self._next_at = float("inf")
        self._implicit_at = float("inf")

    def start(self, records: Iterable[TaskRecord], now: float) -> list[tuple]:
        """A (re-)subscription: ask for every task we know, and for every task it knows."""
        self.pending = {r.task_id: r.agent_id for r in records if r.phase is not Phase.ENDED}
        self._by_agent = {}
        for task_id, agent_id in self.pending.items():
            self._by_agent.setdefault(agent_id, set()).add(task_id)
        self._followed = set()
        self.began = now
        self._settle_until = now + self.opts.reconcile_settle_s
        self._delay = self.opts.reconcile_first_retry_s
        self._next_at = now + self._delay
        self._implicit_at = now + self.opts.implicit_reconcile_s
        calls = [("reconcileTasks", explicit(self.pending))] if self.pending else []
        return calls + [("reconcileTasks", [])]

    def answered(self, task_id: str, now: float) -> list[tuple]:
        """An update for the task came: it is answered; the rest are asked again soon, and
        at once the rest of its agent's (back now) if not yet this round."""
        if task_id not in self.pending:
            return []
        agent_id = self.pending.pop(task_id)
        rest = self._by_agent.get(agent_id, set())
        rest.discard(task_id)
        if not rest:
            self._by_agent.pop(agent_id, None)
        self._delay = self.opts.reconcile_first_retry_s
        self._next_at = min(self._next_at, now + self._delay)
        if not (self.opts.reconcile_per_agent and agent_id is not None and rest
                and agent_id not in self._followed):
            return []
        self._followed.add(agent_id)
        return [("reconcileTasks", explicit({t: agent_id for t in rest}))]

    def due(self, now: float) -> list[tuple]:
        """The RECONCILE calls due now: the unanswered again (one per agent), and the
        periodic implicit."""
        calls: list[tuple] = []
        if self.pending and now >= self._next_at:
            calls.append(("reconcileTasks", explicit(self._probes())))
            self._followed = set()
            self._next_at = now + self._delay
            self._delay = min(self.opts.reconcile_retry_s, self._delay * 2)
        if now >= self._implicit_at:
            calls.append(("reconcileTasks", []))
            self._implicit_at = now + self.opts.implicit_reconcile_s
        return calls

    def _probes(self) -> dict[str, str | None]:
        """One pending task per agent (every one whose agent we do not know)."""
        if not self.opts.reconcile_per_agent:
            return self.pending
        out: dict[str, str | None] = {}
        for agent_id, tasks in self._by_agent.items():
            chosen = tasks if agent_id is None else (min(tasks),)
            out.update((t, agent_id) for t in chosen)
        return out

    def settling(self, now: float) -> bool:
        """Too soon after a subscription to launch (the implicit answers are coming)."""
        return now < self._settle_until

    def waiting_for(self, records: dict[str, TaskRecord], roles: set[Role]) -> bool:
        """Is a task of one of ``roles`` unanswered?"""
        return any(records[t].role in roles for t in self.pending if t in records)

    def describe(self, now: float) -> str | None:
        """What reconciliation waits for, for the status line and the log."""
        if not self.pending:
            return None
        return (f"{len(self.pending)} task(s) unanswered since the subscription "
                f"{now - self.began:.0f} s ago; next reconcile in "
                f"{max(0.0, self._next_at - now):.0f} s")


def explicit(tasks: dict[str, str | None]) -> list[dict]:
    """RECONCILE entries: each task with its agent, when known."""
    return [{"task_id": {"value": t}, **({"agent_id": {"value": a}} if a else {})}
            for t, a in sorted(tasks.items())]
