"""A new leader as Mesos has one: it knows agents and their tasks only once they re-register.

After a leader change (not the first election) every agent is *recovering*
(src/master/master.cpp: in the registry, not yet re-registered): the master offers nothing
of it, does not know its tasks (implicit reconciliation leaves them out; explicit
reconciliation does not answer for them, see :meth:`RecoveryMixin.reconcile_answer`),
drops KILLs for them, and holds their agents' status updates. Each agent re-registers at
a seeded time within ``reregister_window_s`` (Mesos agents: a second or two after they
see the new leader), unless a test holds it (:meth:`hold_agents`) and brings it back
(:meth:`reregister`). Agents still away after ``reregister_timeout_s`` (Mesos'
``--agent_reregister_timeout``, 10 min) are marked unreachable as partitioned agents are
(:mod:`.partition`): their tasks are reported TASK_UNREACHABLE, or TASK_LOST to frameworks
that are not PARTITION_AWARE, and come back TASK_RUNNING if such an agent re-registers
later. ``failover="instant"`` keeps the
kinder old behaviour (the new leader knows everything at once) for tests that need it.
"""
from __future__ import annotations

import logging
from typing import Any

from ...mesos.protocol import TaskState
from .model import Framework, Task

log = logging.getLogger(__name__)

#: Mesos' default ``--agent_reregister_timeout``.
DEFAULT_REREGISTER_TIMEOUT_S = 600.0


class RecoveryMixin:
    """Agent re-registration after a leader change (see the module docstring)."""

    failover: str = "mesos"
    reregister_window_s: float = 2.0
    reregister_timeout_s: float = DEFAULT_REREGISTER_TIMEOUT_S

    def _recovery_init(self) -> None:
        self.recovering: set[str] = set()       # agents not yet re-registered
        self.held: set[str] = set()             # … kept away by a test
        self._had_leader = False
        self._recovery_timers: list[Any] = []
        self.reconcile_calls: list[list[dict[str, Any]]] = []   # RECONCILE bodies, in order

    # -- test controls ----------------------------------------------------------------
    def hold_agents(self, agent_ids: list[str]) -> None:
        """These agents do not re-register on their own after the next leader change."""
        with self.lock:
            self.held |= set(agent_ids)

    def reregister(self, agent_id: str) -> None:
        """The agent re-registers with the leader now (its tasks known again)."""
        with self.lock:
            self.held.discard(agent_id)
            agent = self.agents[agent_id]
            if agent.lost or agent.partitioned:
                return
            if agent_id in self.unreachable_agents:
                self.recovering.discard(agent_id)
                agent.recovering = False
                self.agent_returns(agent_id)          # after the timeout (partition.py)
                return
            if agent_id not in self.recovering:
                return
            self.recovering.discard(agent_id)
            agent.recovering = False
            log.info("agent %s re-registered", agent_id)
            self._forward_agent_updates(agent_id)
            self.mark_dirty(agent_id)
            self.request_allocation()

    # -- leader change ----------------------------------------------------------------
    def set_leader(self, master: Any) -> None:
        with self.lock:
            failover = self._had_leader and master is not self.leader
            self._had_leader = True
            super().set_leader(master)   # type: ignore[misc]
            if failover and self.failover == "mesos":
                self._begin_recovery()

    def _begin_recovery(self) -> None:
        for timer in self._recovery_timers:
            timer.cancel()
        self._recovery_timers = []
        for agent in self.agents.values():
            if agent.lost or agent.agent_id in self.unreachable_agents:
                continue            # the registry keeps an unreachable agent unreachable
            agent.recovering = True
            self.recovering.add(agent.agent_id)
            timer = self._ping_timers.pop(agent.agent_id, None)
            if timer is not None:       # a new leader pings only agents that re-registered:
                timer.cancel()          # for the others only the re-register timeout runs
            for offer_id in list(agent.offers):
                self.remove_offer(self.offers[offer_id], rescind=False)
            if agent.agent_id not in self.held:
                delay = self.rng.uniform(0.0, self.reregister_window_s)
                self._recovery_timers.append(self.timers.call_later(
                    delay, lambda a=agent.agent_id: self._timed_reregister(a)))
        self._recovery_timers.append(self.timers.call_later(self.reregister_timeout_s,
                                                            self._reregister_timeout))
        log.info("new leader: %d agent(s) recovering", len(self.recovering))

    def _timed_reregister(self, agent_id: str) -> None:
        with self.lock:
            if agent_id not in self.held and agent_id not in self.partitioned:
                self.reregister(agent_id)

    def _reregister_timeout(self) -> None:
        with self.lock:
            for agent_id in sorted(self.recovering):
                self.recovering.discard(agent_id)
                self.agents[agent_id].recovering = False
                self.mark_unreachable(agent_id, f"did not reregister within "
                                                f"{self.reregister_timeout_s:g} s after "
                                                f"master failover")

    # -- what the master knows ----------------------------------------------------------
    def task_known(self, task: Task) -> bool:
        """Does the leader know this task (its agent has re-registered)?"""
        return (task.agent_id not in self.recovering
                and task.agent_id not in self.unreachable_agents)

    def reconcile_answer(self, framework: Framework, task_id: str,
                         agent_id: str | None) -> tuple[TaskState, str] | None:
        """Explicit reconciliation of one task the master does not know, as
        ``Master::_reconcileTasks`` (src/master/master.cpp): None is no answer."""
        pa = framework.partition_aware
        if agent_id is not None and agent_id in self.recovering:
            return None                          # (2) its agent has not re-registered yet
        if agent_id is None and self.recovering:
            return None                          # (3) some agent has not: it may be there
        agent = self.agents.get(agent_id) if agent_id else None
        if agent_id is not None and agent_id in self.gone_agents:
            return ((TaskState.GONE_BY_OPERATOR if pa else TaskState.LOST),
                    "Reconciliation: Task is gone")                           # (6)
        if agent is not None and not agent.lost and agent_id not in self.unreachable_agents:
            return ((TaskState.GONE if pa else TaskState.LOST),
                    "Reconciliation: Task is unknown to the agent")            # (4)
        if agent_id is not None and agent_id in self.unreachable_agents:
            return ((TaskState.UNREACHABLE if pa else TaskState.LOST),
                    "Reconciliation: Task is unreachable")                     # (5)
        return ((TaskState.UNKNOWN if pa else TaskState.LOST),
                "Reconciliation: Task is unknown")                            # (7)
