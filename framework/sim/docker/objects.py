"""The Docker objects an emulator makes: labels, USER networks, containers and their exit.

Every container and network an emulator creates carries :data:`OWNER_LABEL` ``=1`` and
:data:`RUNNER_LABEL` ``=<runner id>``, so one runner's objects (or, after a crash, every
emulator's) can be found and removed (:func:`remove_emulator_objects`).
:class:`NetworkPool` stands in for Calico: Mesos network ``name`` becomes a Docker bridge
network with the agent's CIDR, made on first use and removed when the runner closes.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from typing import Any

import docker
import docker.errors
import docker.types

from ...calico.networks import create_network, upper_half
from ...mesos.protocol import TaskState
from .firewall import SiteFirewall, remove_chains
from .translate import LaunchError
from ..runner import AgentInfo

log = logging.getLogger(__name__)

OWNER_LABEL = "htcmesos.emulator"      # "1" on every container/network an emulator made
RUNNER_LABEL = "htcmesos.runner"       # id of the DockerTaskRunner that made it
AGENT_LABEL = "htcmesos.agent_id"
TASK_LABEL = "htcmesos.task_id"
BRIDGE_OPTION = "com.docker.network.bridge.name"
LOG_LINES = 10                         # log lines quoted in the message of a failed task


def explain(exc: BaseException) -> str:
    """The engine's explanation of a Docker error (else ``str(exc)``)."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _same_subnet(net: Any, cidr: str) -> bool:
    want = ipaddress.ip_network(cidr, strict=False)
    for conf in (net.attrs.get("IPAM") or {}).get("Config") or []:
        try:
            if ipaddress.ip_network(conf.get("Subnet", ""), strict=False) == want:
                return True
        except ValueError:
            continue
    return False


class NetworkPool:
    """The Docker networks standing in for Mesos USER networks, for one runner (thread-safe)."""

    def __init__(self, client: docker.DockerClient, runner_id: str,
                 firewall: SiteFirewall | None = None) -> None:
        self.client, self.runner_id, self.firewall = client, runner_id, firewall
        self._lock = threading.Lock()
        self._networks: dict[tuple[str, str | None], str] = {}
        self._bridges: dict[str, str] = {}
        self._created: list[str] = []

    def get(self, agent: AgentInfo, name: str) -> str:
        """The Docker network standing in for Mesos network ``name`` on ``agent``."""
        cidr = agent.networks.get(name)
        key = (name, cidr)
        with self._lock:
            if key in self._networks:
                docker_name = self._networks[key]
            else:
                docker_name = self._find_or_create(agent, name, cidr)
                self._networks[key] = docker_name
            if self.firewall is not None:
                self.firewall.add(self._bridge(docker_name), agent.private)
            return docker_name

    def _find_or_create(self, agent: AgentInfo, name: str, cidr: str | None) -> str:
        candidates = [name]
        if cidr:
            candidates.append(f"{name}-{cidr.replace('/', '_')}")
        for docker_name in candidates:
            try:
                net = self.client.networks.get(docker_name)
            except docker.errors.NotFound:
                if not cidr:
                    raise LaunchError(f"agent {agent.agent_id} has no network {name!r} "
                                      "(AgentInfo.networks) and Docker has none either")
                self._create(docker_name, cidr)
                return docker_name
            if not cidr or _same_subnet(net, cidr):
                return docker_name
        return candidates[-1]

    def _bridge(self, docker_name: str) -> str:
        """The host interface of a bridge network (ours are named, others ``br-<id>``)."""
        if docker_name not in self._bridges:
            net = self.client.networks.get(docker_name)
            opts = net.attrs.get("Options") or {}
            self._bridges[docker_name] = opts.get(BRIDGE_OPTION) or f"br-{net.id[:12]}"
        return self._bridges[docker_name]

    def forget(self, docker_name: str) -> None:
        """``docker_name`` was removed behind our back: make it again on next use."""
        with self._lock:
            self._networks = {k: v for k, v in self._networks.items() if v != docker_name}
            self._bridges.pop(docker_name, None)

    def remove_created(self, deadline_s: float = 15.0) -> list[str]:
        """Remove the networks this pool made; return those kept (logged).

        The engine refuses (403 "has active endpoints") while an endpoint is still
        attached, which it can be for a moment after its container was force-removed;
        endpoints of containers gone (or of this runner) are disconnected and removal
        is retried until ``deadline_s``. A network a foreign container still uses is kept.
        """
        pending = list(reversed(self._created))
        end = time.monotonic() + deadline_s
        errors: dict[str, str] = {}
        while pending:
            for name in list(pending):
                error = _remove_network(self.client, name, self.runner_id)
                if error is None:
                    pending.remove(name)
                else:
                    errors[name] = error
            if not pending or time.monotonic() >= end:
                break
            time.sleep(0.2)                       # bounded: ends at the deadline
        for name in pending:
            log.warning("network %s kept: %s", name, errors.get(name, "?"))
        self._created = [n for n in self._created if n in pending]
        return pending

    def _create(self, docker_name: str, cidr: str) -> None:
        """A bridge network for ``cidr`` that hands out addresses only from its upper half:
        the lower half is for fixed addresses (the master's), as a Calico IPReservation
        keeps them out of automatic assignment."""
        upper = upper_half(cidr)
        bridge = "htcm" + hashlib.sha1(f"{self.runner_id}/{docker_name}".encode()).hexdigest()[:10]
        try:
            create_network(self.client, docker_name, cidr, calico=False, bridge_name=bridge,
                           iprange=upper, labels={OWNER_LABEL: "1", RUNNER_LABEL: self.runner_id})
            self._created.append(docker_name)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:            # 409: someone made it meanwhile: use it
                raise LaunchError(f"cannot create network {docker_name!r} ({cidr}): "
                                  f"{explain(exc)}") from None


def _remove_network(client: docker.DockerClient, name: str, runner_id: str) -> str | None:
    """Remove network ``name`` after disconnecting endpoints of containers that are gone
    or this runner's; None when it is gone, else the engine's reason."""
    try:
        net = client.networks.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as exc:
        return explain(exc)
    for container_id in (net.attrs.get("Containers") or {}):
        try:
            labels = client.api.inspect_container(container_id)["Config"].get("Labels") or {}
            if labels.get(RUNNER_LABEL) != runner_id:
                continue                          # a foreign container: not ours to cut
        except docker.errors.NotFound:
            pass                                  # a stale endpoint of a removed container
        except docker.errors.DockerException:
            continue
        try:
            net.disconnect(container_id, force=True)
        except docker.errors.DockerException:
            pass
    try:
        net.remove()
        return None
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as exc:
        return explain(exc)


def remove_container(api: docker.APIClient, container_id: str | None) -> None:
    """Force-remove a container and its anonymous volumes; log (never raise) on failure."""
    if not container_id:
        return
    try:
        api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.DockerException as exc:
        log.warning("cannot remove container %s: %s", container_id[:12], explain(exc))


def runner_containers(api: docker.APIClient, runner_id: str) -> dict[str, str] | None:
    """Id → state (``running``, ``exited``, …) of every container of the runner, or None
    (logged) if the engine cannot list them."""
    try:
        found = api.containers(all=True, filters={"label": f"{RUNNER_LABEL}={runner_id}"})
    except docker.errors.DockerException as exc:
        log.warning("cannot list containers: %s", explain(exc))
        return None
    return {c["Id"]: c.get("State", "") for c in found}


def exit_status(api: docker.APIClient, container_id: str | None,
                gone: bool) -> tuple[TaskState, str, str | None]:
    """(state, message, reason) of a task whose container stopped (or vanished: ``gone``)."""
    if gone:
        return TaskState.FAILED, "container disappeared", "REASON_EXECUTOR_TERMINATED"
    try:
        info = api.inspect_container(container_id)["State"]
        code = int(info.get("ExitCode", -1))
        tail = api.logs(container_id, tail=LOG_LINES).decode("utf-8", "replace").strip()
    except docker.errors.DockerException as exc:
        return (TaskState.FAILED, f"container ended; inspect failed: {explain(exc)}",
                "REASON_EXECUTOR_TERMINATED")
    state = TaskState.FINISHED if code == 0 else TaskState.FAILED
    message, reason = f"Container exited with status {code}", None
    if info.get("OOMKilled"):
        message, reason = message + " (out of memory)", "REASON_CONTAINER_LIMITATION_MEMORY"
    if state == TaskState.FAILED and tail:
        message += "; last log lines:\n" + tail[-2000:]
    return state, message, reason


def remove_emulator_objects(client: docker.DockerClient, runner_id: str | None = None) -> int:
    """Force-remove containers (then networks and firewall chains) labelled as
    emulator-made; return the count.

    Without ``runner_id`` this removes what every emulator on this engine made: call it
    only when no other emulator is running (e.g. after a crashed run).
    """
    label = f"{RUNNER_LABEL}={runner_id}" if runner_id else f"{OWNER_LABEL}=1"
    removed = 0
    for item in client.api.containers(all=True, filters={"label": label}):
        try:
            client.api.remove_container(item["Id"], force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    for net in client.networks.list(filters={"label": label}):
        try:
            net.remove()
            removed += 1
        except docker.errors.APIError as exc:
            log.info("network %s kept: %s", net.name, explain(exc))
    return removed + remove_chains(runner_id)
