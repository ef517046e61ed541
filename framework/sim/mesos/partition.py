"""Agents cut off from the master, as Mesos sees them: missed pings, then unreachable.

A partitioned agent (:meth:`PartitionMixin.partition_agent`) keeps running its tasks, but
the master hears nothing from it: its connection broke, so its offers are rescinded at once
(``Master::disconnect`` → ``deactivate``); its status updates wait on the agent; after
``max_agent_ping_timeouts`` pings of ``agent_ping_timeout_s`` each went unanswered (Mesos'
``--agent_ping_timeout`` 15 s × ``--max_agent_ping_timeouts`` 5) the master marks it
unreachable (:meth:`mark_unreachable`, also used after a leader change for agents that do
not re-register in time): every task on it is reported TASK_UNREACHABLE to partition-aware
frameworks and TASK_LOST to the others (SOURCE_MASTER, REASON_AGENT_REMOVED, with
``unreachable_time``), and every framework gets a FAILURE event naming the agent
(src/tests/partition_tests.cpp: ``PartitionTest.ReregisterSlavePartitionAware``).

When the partition heals (:meth:`heal_agent`) the agent re-registers. Before the timeout
nothing was marked: its held updates go out. After it, :meth:`agent_returns` makes its
tasks known again and each live one is reported TASK_RUNNING — for partition-aware
frameworks and, for compatibility with Mesos 1.0, for the others too
(``PartitionTest.ReregisterSlaveNotPartitionAware``,
``PartitionedSlaveReregistrationMasterFailover``); tasks that ended meanwhile send their
held terminal update.

A runner hears of the partition through :meth:`~framework.sim.runner.TaskRunner.partition`
(the Docker runner can cut the agent's containers off the network).
"""
from __future__ import annotations

import logging
from typing import Any

from ...mesos.protocol import Resources, TaskState

log = logging.getLogger(__name__)

#: Mesos' defaults: ``--agent_ping_timeout`` and ``--max_agent_ping_timeouts``.
DEFAULT_PING_TIMEOUT_S = 15.0
DEFAULT_MAX_PING_TIMEOUTS = 5


class PartitionMixin:
    """Partitioned and unreachable agents (see the module docstring)."""

    agent_ping_timeout_s: float = DEFAULT_PING_TIMEOUT_S
    max_agent_ping_timeouts: int = DEFAULT_MAX_PING_TIMEOUTS

    def _partition_init(self) -> None:
        self.partitioned: set[str] = set()
        self._ping_timers: dict[str, Any] = {}
        self.partition_log: list[tuple[str, str]] = []   # (event, agent id), in order
        self.gone_agents: set[str] = set()
        #: KILLs sent to a partitioned agent: Mesos keeps them (``Slave::killedTasks``)
        #: and sends them again when the agent re-registers
        self.held_kills: dict[str, dict[str, tuple[str, float]]] = {}

    # -- test controls ----------------------------------------------------------------
    def partition_agent(self, agent_id: str) -> None:
        """Cut the agent off the master now (its tasks keep running)."""
        with self.lock:
            agent = self.agents[agent_id]
            if agent.lost or agent_id in self.partitioned:
                return
            self.partitioned.add(agent_id)
            agent.partitioned = True
            for offer_id in list(agent.offers):
                self.remove_offer(self.offers[offer_id], rescind=True)
            self.partition_log.append(("partitioned", agent_id))
            if agent_id not in self.recovering and agent_id not in self.unreachable_agents:
                timeout = self.agent_ping_timeout_s * self.max_agent_ping_timeouts
                self._ping_timers[agent_id] = self.timers.call_later(
                    timeout, lambda: self._ping_timeout(agent_id))
                log.info("agent %s partitioned: unreachable in %.0f s unless it returns",
                         agent_id, timeout)
        agent.runner.partition(agent.info, True)

    def heal_agent(self, agent_id: str) -> None:
        """The partition heals: the agent re-registers (see the module docstring)."""
        with self.lock:
            agent = self.agents[agent_id]
            if agent_id not in self.partitioned:
                return
            self.partitioned.discard(agent_id)
            agent.partitioned = False
            self.partition_log.append(("healed", agent_id))
            timer = self._ping_timers.pop(agent_id, None)
            if timer is not None:
                timer.cancel()
        agent.runner.partition(agent.info, False)
        with self.lock:
            if agent.lost or agent.partitioned:
                return                # gone, or cut off again, meanwhile
            self._send_held_kills(agent_id)
            if agent_id in self.recovering:
                if agent_id not in self.held:
                    self.reregister(agent_id)          # a leader change came meanwhile
            elif agent_id in self.unreachable_agents:
                self.agent_returns(agent_id)
            else:
                self._forward_agent_updates(agent_id)
                self.mark_dirty(agent_id)
                self.request_allocation()

    def mark_agent_gone(self, agent_id: str) -> None:
        """The operator's MARK_AGENT_GONE (``Master::markGone``, Mesos ≥ 1.5): the host is
        dead and never returns. Every task on it ends TASK_GONE_BY_OPERATOR (TASK_LOST for
        frameworks that are not partition-aware), REASON_AGENT_REMOVED_BY_OPERATOR."""
        with self.lock:
            agent = self.agents[agent_id]
            if agent_id in self.gone_agents:
                return
            self.gone_agents.add(agent_id)
            self.partition_log.append(("gone", agent_id))
            for offer_id in list(agent.offers):
                self.remove_offer(self.offers[offer_id], rescind=True)
            quiet = agent_id in self.recovering     # Master::markGone: none for these
            ended: list[tuple[Any, str]] = []
            for framework_id, task_id in sorted(agent.tasks):
                framework = self.frameworks.get(framework_id)
                task = framework.tasks.get(task_id) if framework else None
                if framework is not None and task is not None:
                    task.pending.clear()
                    self.forget_task(framework, task)
                    ended.append((framework, task_id))
            for framework in self.frameworks.values():
                ended += [(framework, t) for t, a in framework.unreachable.items()
                          if a == agent_id and (framework, t) not in ended]
            for framework, task_id in ended:
                framework.unreachable.pop(task_id, None)
                if quiet:
                    continue
                pa = framework.partition_aware
                self.master_update(framework, task_id, agent_id,
                                   TaskState.GONE_BY_OPERATOR if pa else TaskState.LOST,
                                   "REASON_AGENT_REMOVED_BY_OPERATOR" if pa
                                   else "REASON_AGENT_REMOVED",
                                   f"Agent {agent.hostname} marked gone by the operator")
            self.agent_dead(agent_id)
        agent.runner.lose_agent(agent.info)

    def agent_dead(self, agent_id: str) -> None:
        """It never comes back: nothing of it is offered, pinged, healed or sent a kill
        (the caller tells its runner and the frameworks)."""
        agent = self.agents[agent_id]
        agent.lost = agent.unreachable = True
        agent.partitioned = agent.recovering = False
        agent.available = Resources()
        self.unreachable_agents.add(agent_id)
        self.recovering.discard(agent_id)
        self.partitioned.discard(agent_id)
        timer = self._ping_timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        self.held_kills.pop(agent_id, None)

    # -- what the master does ---------------------------------------------------------
    def _ping_timeout(self, agent_id: str) -> None:
        with self.lock:
            self._ping_timers.pop(agent_id, None)
            if agent_id in self.partitioned and agent_id not in self.unreachable_agents:
                self.mark_unreachable(agent_id, "health check timed out")

    def mark_unreachable(self, agent_id: str, why: str) -> None:
        """``Master::markUnreachable``: the agent's tasks UNREACHABLE (or LOST), FAILURE."""
        agent = self.agents[agent_id]
        if agent_id in self.unreachable_agents:
            return
        self.unreachable_agents.add(agent_id)
        self.recovering.discard(agent_id)
        agent.recovering = False
        agent.unreachable = True
        self.partition_log.append(("unreachable", agent_id))
        for offer_id in list(agent.offers):
            self.remove_offer(self.offers[offer_id], rescind=True)
        when = {"unreachable_time": {"nanoseconds": int(self.wall() * 1e9)}}
        log.info("agent %s unreachable: %s", agent_id, why)
        for framework_id, task_id in sorted(agent.tasks):
            framework = self.frameworks.get(framework_id)
            task = framework.tasks.get(task_id) if framework else None
            if framework is None or task is None or task.state.terminal:
                continue
            framework.unreachable[task_id] = agent_id
            state = TaskState.UNREACHABLE if framework.partition_aware else TaskState.LOST
            self.master_update(framework, task_id, agent_id, state, "REASON_AGENT_REMOVED",
                               f"Agent {agent.hostname} is unreachable: {why}", when)
        for framework in self.frameworks.values():
            self.send(framework, {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})

    def agent_returns(self, agent_id: str) -> None:
        """An unreachable agent re-registers: its tasks are known again; each live one is
        reported TASK_RUNNING, each that ended meanwhile sends its held update."""
        agent = self.agents[agent_id]
        self.unreachable_agents.discard(agent_id)
        agent.unreachable = False
        self.partition_log.append(("returned", agent_id))
        log.info("agent %s re-registered after it was unreachable", agent_id)
        for framework_id, task_id in sorted(agent.tasks):
            framework = self.frameworks.get(framework_id)
            task = framework.tasks.get(task_id) if framework else None
            if framework is None or task is None:
                continue
            framework.unreachable.pop(task_id, None)
            if task.pending:
                self.forward_head(framework, task)
            elif not task.state.terminal:
                self.master_update(framework, task_id, agent_id, task.state,
                                   "REASON_AGENT_REREGISTERED", "Agent reregistered",
                                   task.status_fields())
        self.mark_dirty(agent_id)
        self.request_allocation()

    def hold_kill(self, agent_id: str, framework_id: str, task_id: str, grace_s: float) -> None:
        """A KILL for a task on a partitioned agent: sent when the agent is back."""
        self.held_kills.setdefault(agent_id, {})[task_id] = (framework_id, grace_s)

    def _send_held_kills(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        for task_id, (framework_id, grace_s) in sorted(self.held_kills.pop(agent_id, {}).items()):
            framework = self.frameworks.get(framework_id)
            task = framework.tasks.get(task_id) if framework else None
            if task is not None and not task.state.terminal:
                agent.runner.kill(agent.info, task_id, grace_s, self)

    def _forward_agent_updates(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        for framework_id, task_id in sorted(agent.tasks):
            framework = self.frameworks.get(framework_id)
            task = framework.tasks.get(task_id) if framework else None
            if framework is not None and task is not None and task.pending:
                self.forward_head(framework, task)
