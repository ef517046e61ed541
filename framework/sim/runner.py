"""How an emulated agent runs a task: simulated state changes, or a real Docker container.

The emulated master hands each accepted TaskInfo to the agent's :class:`TaskRunner`; the
runner reports what the task does through :class:`StatusSink` (agent-made updates: the
master gives them a uuid and expects an ACKNOWLEDGE).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ..mesos.protocol import TaskState


@dataclass(frozen=True)
class AgentInfo:
    """What a runner needs to know about the agent it runs on."""

    agent_id: str
    hostname: str
    site: str
    #: Calico network name → CIDR (as text) of the networks this agent can attach to.
    networks: dict[str, str] = field(default_factory=dict)
    #: the agent's site takes no inbound connections from other sites
    private: bool = False


@dataclass(frozen=True)
class TaskReport:
    """One status change reported by a runner."""

    task_id: str
    state: TaskState
    message: str = ""
    reason: str | None = None         # e.g. "REASON_CONTAINER_LAUNCH_FAILED"
    ip_address: str | None = None     # the task's container IP (TASK_RUNNING)
    healthy: bool | None = None       # set on health changes


class StatusSink(abc.ABC):
    """Receives agent-made status reports (thread-safe)."""

    @abc.abstractmethod
    def report(self, agent_id: str, report: TaskReport) -> None:
        """Record ``report`` for the task on ``agent_id`` and send it to its framework."""


class TaskRunner(abc.ABC):
    """Runs the tasks of one or more emulated agents."""

    @abc.abstractmethod
    def launch(self, agent: AgentInfo, task_info: dict[str, Any], sink: StatusSink) -> None:
        """Start ``task_info`` (validated Mesos TaskInfo JSON) on ``agent``; return at once."""

    @abc.abstractmethod
    def kill(self, agent: AgentInfo, task_id: str, grace_s: float, sink: StatusSink) -> None:
        """Stop the task (KILLING then KILLED reports); return at once."""

    @abc.abstractmethod
    def lose_agent(self, agent: AgentInfo) -> None:
        """The agent vanished: stop its tasks silently (the master reports them)."""

    def partition(self, agent: AgentInfo, cut: bool) -> None:
        """The agent is cut off from the master (``cut``) or back: its tasks run on; a
        runner may cut their network too. Nothing by default."""

    def close(self) -> None:
        """Stop every task and background thread of this runner."""
