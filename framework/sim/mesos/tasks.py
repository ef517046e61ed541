"""What the emulated master checks before it launches a task, and the statuses it makes.

:func:`validate_task` returns the TASK_ERROR message Mesos would send (or the emulator's,
for the Calico rules Mesos leaves to the Docker containerizer); :func:`master_status`
builds a master-made TaskStatus: ``source`` SOURCE_MASTER and never a ``uuid`` (frameworks
must not acknowledge it).
"""
from __future__ import annotations

from typing import Any

from ...mesos.protocol import Resources, TaskState
from .model import Agent, Framework
from .resources import contains, describe, parse_task_resources, spans_contain

NAME_MAX = 255


def validate_id(value: str) -> str | None:
    """Mesos' rules for task ids: not empty, ≤ 255 chars, not . or .., no / \\ or controls."""
    if not value:
        return "ID must not be empty"
    if len(value) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in value):
        return f"'{value}' contains invalid characters"
    return None


def _environment_error(command: dict[str, Any]) -> str | None:
    for var in (command.get("environment") or {}).get("variables") or []:
        kind, name = var.get("type") or "VALUE", var.get("name")
        if kind == "UNKNOWN":
            return "Environment variable of type 'UNKNOWN' is not allowed"
        if kind == "VALUE":
            if var.get("value") is None:
                return f"Environment variable '{name}' of type 'VALUE' must have a value set"
            if var.get("secret") is not None:
                return f"Environment variable '{name}' of type 'VALUE' must not have a secret set"
        if kind == "SECRET":
            if var.get("secret") is None:
                return f"Environment variable '{name}' of type 'SECRET' must have a secret set"
            if var.get("value") is not None:
                return f"Environment variable '{name}' of type 'SECRET' must not have a value set"
    return None


def _health_error(check: dict[str, Any]) -> str | None:
    kind = check.get("type")
    if kind is None:   # Mesos infers the type for old schedulers
        kind = "COMMAND" if check.get("command") is not None else "HTTP" if check.get("http") else None
    if kind in (None, "UNKNOWN"):
        return "HealthCheck must specify 'type'"
    if check.get(kind.lower()) is None:
        return f"Expecting '{kind.lower()}' to be set for {kind} health check"
    for key in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        if float(check.get(key) or 0.0) < 0:
            return f"Expecting '{key}' to be non-negative"
    if kind == "HTTP" and (check["http"].get("scheme") or "http") not in ("http", "https"):
        return "The scheme '" + check["http"]["scheme"] + "' is unsupported"
    return None


def _container_error(container: dict[str, Any], agent: Agent, ports: Resources) -> str | None:
    for volume in container.get("volumes") or []:
        count = sum(volume.get(k) is not None for k in ("host_path", "image", "source"))
        if count != 1:
            return "Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'"
    nets = container.get("network_infos") or []
    docker = container.get("docker")
    if container["type"] == "DOCKER":
        if docker is None:
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
        if any(p.get("key") == "name" for p in docker.get("parameters") or []):
            return "Parameter in DockerInfo must not be 'name'"
        network = docker.get("network") or "HOST"
        if network == "USER" and (len(nets) != 1 or not nets[0].get("name")):
            return (f"Docker network USER needs exactly one named network_infos entry, "
                    f"got {len(nets)}")
        if network != "USER":
            nets = []   # the Docker containerizer ignores network_infos then
        for mapping in docker.get("port_mappings") or []:
            if not spans_contain(ports.ports, [(mapping["host_port"], mapping["host_port"])]):
                return (f"Host port {mapping['host_port']} of a Docker port mapping is not in "
                        f"the task's ports resources")
    for net in nets:
        name = net.get("name")
        if name is not None and name not in agent.networks:
            return (f"Network '{name}' is not available on agent {agent.agent_id} "
                    f"(it has: {', '.join(sorted(agent.networks)) or 'none'})")
    return None


def validate_task(task: dict[str, Any], framework: Framework, agent: Agent,
                  available: Resources, launching: set[str],
                  busy_on_agent: set[str]) -> tuple[Resources, str | None]:
    """(task resources, TASK_ERROR message or None) for one TaskInfo of an ACCEPT.

    ``available``: what is left of the accepted offers; ``launching``: task ids already
    launched by this ACCEPT; ``busy_on_agent``: task ids of other frameworks' live tasks on
    the agent (the runner interface names tasks by id per agent, so the emulator refuses
    such a clash; real Mesos would allow it).
    """
    task_id = task["task_id"]["value"]
    error = validate_id(task_id)
    if error:
        return Resources(), "Task has an invalid TaskID: " + error
    if task["agent_id"]["value"] != agent.agent_id:
        return Resources(), (f"Task uses invalid agent {task['agent_id']['value']} while "
                             f"agent {agent.agent_id} is expected")
    if task_id in framework.tasks or task_id in launching:
        return Resources(), "Task has duplicate ID: " + task_id
    if task_id in framework.unreachable:
        return Resources(), "Task reuses the ID of an unreachable task: " + task_id
    if task_id in busy_on_agent:
        return Resources(), (f"Task ID {task_id} is in use by another framework on agent "
                             f"{agent.agent_id} (emulator limitation)")
    if (task.get("executor") is None) == (task.get("command") is None):
        return Resources(), ("Task should have at least one (but not both) of CommandInfo or "
                             "ExecutorInfo present")
    grace = ((task.get("kill_policy") or {}).get("grace_period") or {}).get("nanoseconds")
    if grace is not None and int(grace) < 0:
        return Resources(), "Task's 'kill_policy.grace_period' must be non-negative"
    if task.get("health_check") is not None:
        error = _health_error(task["health_check"])
        if error:
            return Resources(), "Task uses invalid health check: " + error
    raw = task.get("resources") or []
    if not raw:
        return Resources(), "Task uses no resources"
    needed, error = parse_task_resources(raw)
    if error:
        return Resources(), "Task uses invalid resources: " + error
    for command in (task.get("command"), (task.get("executor") or {}).get("command")):
        if command is not None and (error := _environment_error(command)):
            return needed, "Task's `CommandInfo` is invalid: " + error
    if task.get("container") is not None:
        error = _container_error(task["container"], agent, needed)
        if error:
            return needed, "Task's `ContainerInfo` is invalid: " + error
    if not contains(available, needed):
        return needed, (f"Total resources {describe(needed)} required by task and its executor "
                        f"is more than available {describe(available)}")
    return needed, None


def master_status(framework_id: str, task_id: str, agent_id: str | None, state: TaskState,
                  reason: str, message: str, timestamp: float,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TaskStatus made by the master: SOURCE_MASTER, no ``uuid``."""
    status: dict[str, Any] = {"task_id": {"value": task_id}, "state": state.value,
                              "source": "SOURCE_MASTER", "reason": reason,
                              "message": message, "timestamp": timestamp}
    if agent_id:
        status["agent_id"] = {"value": agent_id}
    if extra:
        status.update(extra)
    return status


def docker_network_name(task: dict[str, Any]) -> str | None:
    """The Calico network a task asks for (``container.network_infos[0].name``)."""
    nets = (task.get("container") or {}).get("network_infos") or []
    return nets[0].get("name") if nets else None


def requested_ip(task: dict[str, Any]) -> str | None:
    """The fixed address a Docker task asks for (docker parameter ``ip``, i.e. ``--ip``)."""
    docker = (task.get("container") or {}).get("docker") or {}
    for param in docker.get("parameters") or ():
        if str(param.get("key", "")).lstrip("-") == "ip":
            return str(param.get("value", "")) or None
    return None
