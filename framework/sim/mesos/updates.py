"""Agent-made status updates: the emulated agents' status update manager.

Per task, updates queue up in order; only the oldest unacknowledged one is in flight (as
on a Mesos agent), each with a fresh 16-byte ``uuid`` (base64 in JSON). An ACKNOWLEDGE of
the head releases the next; unacknowledged heads are re-sent every ``update_retry_s``
clock seconds and when the framework re-subscribes. Terminal updates give the task's
resources back at once; the task is forgotten when its terminal update is acknowledged.
"""
from __future__ import annotations

import base64
from typing import Any

from ...mesos.protocol import TaskState
from .model import Framework, Task
from .state import CallError, ClusterCore
from .tasks import docker_network_name
from ..runner import StatusSink, TaskReport

#: Reasons the agent itself (not the executor) reports.
AGENT_REASONS = frozenset({"REASON_CONTAINER_LAUNCH_FAILED", "REASON_CONTAINER_LIMITATION",
                           "REASON_CONTAINER_PREEMPTED", "REASON_EXECUTOR_TERMINATED",
                           "REASON_TASK_KILLED_DURING_LAUNCH", "REASON_GC_ERROR",
                           "REASON_INVALID_FRAMEWORKID"})


class UpdatesMixin(ClusterCore, StatusSink):
    """StatusSink for the runners, plus ACKNOWLEDGE handling."""

    def report(self, agent_id: str, report: TaskReport) -> None:
        with self.lock:
            agent = self.agents.get(agent_id)
            framework_id = self.task_owner.get((agent_id, report.task_id))
            if agent is None or agent.lost or framework_id is None:
                return
            framework = self.frameworks.get(framework_id)
            task = framework.tasks.get(report.task_id) if framework else None
            if framework is None or task is None or task.state.terminal:
                return
            if report.state == TaskState.KILLING and "TASK_KILLING_STATE" not in framework.capabilities:
                return   # executors send TASK_KILLING only to frameworks that opted in
            task.state = report.state
            if report.healthy is not None:
                task.healthy = report.healthy
            if report.state == TaskState.RUNNING and task.container_status is None:
                task.container_status = self._container_status(task, report.ip_address or agent.ip)
            status = self._agent_status(framework, task, report)
            task.pending.append(status)
            if report.state.terminal:
                self.release_task(framework, task)
            if len(task.pending) == 1:
                self.forward_head(framework, task)

    def _container_status(self, task: Task, ip: str) -> dict[str, Any]:
        net: dict[str, Any] = {"ip_addresses": [{"protocol": "IPv4", "ip_address": ip}]}
        name = docker_network_name(task.info)
        if name:
            net["name"] = name
        return {"container_id": {"value": f"{task.task_id}.container"}, "network_infos": [net]}

    def _agent_status(self, framework: Framework, task: Task, report: TaskReport) -> dict[str, Any]:
        status: dict[str, Any] = {
            "task_id": {"value": task.task_id}, "state": report.state.value,
            "source": "SOURCE_AGENT" if report.reason in AGENT_REASONS else "SOURCE_EXECUTOR",
            "agent_id": {"value": task.agent_id}, "timestamp": self.wall(),
            "uuid": self.new_uuid_b64(),
        }
        if task.info.get("executor") is None:
            status["executor_id"] = {"value": task.task_id}   # the command executor's id
        if report.message:
            status["message"] = report.message
        if report.reason:
            status["reason"] = report.reason
        if report.healthy is not None:
            status["healthy"] = report.healthy
        if task.container_status is not None:
            status["container_status"] = task.container_status
        return status

    def acknowledge(self, framework: Framework, ack: dict[str, Any]) -> None:
        """Handle ACKNOWLEDGE; raises CallError(400) for an update that was never sent."""
        task_id, agent_id = ack["task_id"]["value"], ack["agent_id"]["value"]
        raw = base64.b64decode(ack["uuid"])
        task = framework.tasks.get(task_id)
        if task is not None and task.agent_id == agent_id and task.pending \
                and base64.b64decode(task.pending[0]["uuid"]) == raw:
            head = task.pending.popleft()
            framework.remember_ack((task_id, raw))
            if TaskState(head["state"]).terminal:
                self.forget_task(framework, task)
            elif task.pending:
                self.forward_head(framework, task)
            else:
                task.head_sent_at = None
            return
        if (task_id, raw) in framework.acked:
            return   # a duplicate (the update was re-sent before the first ACK arrived)
        where = "unknown task" if task is None else (
            f"task on agent {task.agent_id}, not {agent_id}" if task.agent_id != agent_id
            else "no update with this uuid is waiting for an acknowledgement")
        raise CallError(400, f"Cannot acknowledge status update {ack['uuid']} of task "
                             f"{task_id}: {where}")

    def resend_pending(self, framework: Framework) -> None:
        """After a (re-)subscription: send every task's unacknowledged head again."""
        for task in framework.tasks.values():
            if task.pending:
                self.forward_head(framework, task)
