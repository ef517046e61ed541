"""Docker TaskInfo for a role task, exactly as PROTOCOLS.md describes it.

Task ids carry pool, role and site (``<pool>.<role>.<site>.<hex>``) so a restarted
framework knows every task it gets back from reconciliation. Keys and tokens reach the
container through the Mesos fetcher from single-use URLs (``command.uris``, made by a
:class:`CredentialSource`), never through the TaskInfo, the environment or a host path
(an agent that lacks the framework's files would otherwise mount an empty directory).
The master runs at the spec's fixed address (docker parameter ``ip``, as the Mesos
Docker containerizer passes it to ``docker run --ip``; src/docker/docker.cpp).
"""
from __future__ import annotations

import abc
import re
import secrets as _random
from typing import Any

from ...condor.config import ENV_TASK_ID
from ...mesos.protocol import Resources
from ...model import Role
from ...spec import ClusterSpec
from ..roleparts import (ENV_CONFIG, ENV_HEALTH_TIMEOUT, ENV_ROLE, ENV_SITE,  # noqa: F401
                         ENV_UPDATE_INTERVAL, HEALTH_TIMEOUT_SHARE, LABEL_POOL, LABEL_ROLE,
                         LABEL_SITE, role_docker_parameters, role_environment, role_labels)

_TASK_ID = re.compile(r"(?P<pool>[a-z][a-z0-9-]*)\.(?P<role>master|submitter|executor|broker)\."
                      r"(?P<site>[a-z][a-z0-9-]*)\.(?:c(?P<cpus>[0-9]{1,4})m(?P<mem>[0-9]{1,8})\.)?"
                      r"(?:b(?P<broker>[0-9]{1,4})\.)?(?P<uid>[0-9a-f]{6,32})")


def new_task_id(pool: str, role: Role, site: str,
                size: tuple[float, float] | None = None, broker: int | None = None) -> str:
    """``<pool>.<role>.<site>.[c<cpus>m<MiB>.][b<n>.]<hex>``: an executor sized to jobs
    carries its size, a broker task its number and a private site's executor the broker it
    registers with, so a restarted framework knows them from the id alone."""
    sized = f"c{int(size[0])}m{int(size[1])}." if size is not None else ""
    brokered = f"b{int(broker)}." if broker is not None else ""
    return f"{pool}.{role.value}.{site}.{sized}{brokered}{_random.token_hex(6)}"


def task_broker(task_id: str) -> int | None:
    """The broker number in a task id (a broker's own, or an executor's broker), or None."""
    match = _TASK_ID.fullmatch(task_id)
    return int(match["broker"]) if match and match["broker"] is not None else None


def task_size(task_id: str) -> tuple[float, float] | None:
    """The size in an executor's task id (executor_size: jobs), or None."""
    match = _TASK_ID.fullmatch(task_id)
    if not match or match["cpus"] is None:
        return None
    return float(match["cpus"]), float(match["mem"])


def parse_task_id(task_id: str, pool: str) -> tuple[Role, str] | None:
    """(role, site) of one of this pool's task ids, or None for anything else."""
    match = _TASK_ID.fullmatch(task_id)
    if not match or match["pool"] != pool:
        return None
    return Role(match["role"]), match["site"]


class CredentialSource(abc.ABC):
    """Where a task's keys and tokens come from: the ``command.uris`` that fetch them."""

    @abc.abstractmethod
    def uris(self, role: Role, task_id: str) -> list[dict[str, Any]]:
        """``CommandInfo.URI`` entries delivering this task's credentials (once each)."""

    @abc.abstractmethod
    def release(self, task_id: str) -> None:
        """The task runs or ended: what it has not fetched is no longer needed."""


def build_task_info(spec: ClusterSpec, role: Role, site: str, task_id: str, agent_id: str,
                    ports: tuple[tuple[int, int], ...] = (),
                    credentials: CredentialSource | None = None,
                    allocation_role: str | None = None) -> dict[str, Any]:
    """The TaskInfo JSON of one role task placed on ``agent_id`` at ``site``."""
    return TaskInfoFactory(spec, credentials).build(role, site, task_id, agent_id, ports,
                                                    allocation_role)


class TaskInfoFactory:
    """Builds TaskInfos from a template per (role, site): the rendered config and
    everything else that is the same for every task is made once."""

    def __init__(self, spec: ClusterSpec, credentials: CredentialSource | None = None):
        self.spec = spec
        self.credentials = credentials
        self._templates: dict[tuple[Role, str], dict[str, Any]] = {}
        self._res_cache: dict[tuple[Role, str | None], list[dict[str, Any]]] = {}

    def build(self, role: Role, site: str, task_id: str, agent_id: str,
              ports: tuple[tuple[int, int], ...] = (),
              allocation_role: str | None = None,
              size: tuple[float, float] | None = None,
              broker: int | None = None) -> dict[str, Any]:
        """``size``: an executor sized to jobs (cpus, memory MiB) instead of the role's;
        ``broker``: which broker a broker task is, or an executor registers with."""
        key = (role, site, size, broker)
        tpl = self._templates.get(key)
        if tpl is None:
            tpl = self._templates[key] = self._template(*key)
        resources = self._resources(role, ports, allocation_role, size)
        command = dict(tpl["command"])
        command["environment"] = {"variables": tpl["command"]["environment"]["variables"]
                                  + [{"name": ENV_TASK_ID, "value": task_id}]}
        if self.credentials is not None:
            command["uris"] = self.credentials.uris(role, task_id)
        info = dict(tpl)
        info.update(task_id={"value": task_id}, agent_id={"value": agent_id},
                    resources=resources, command=command)
        return info

    def _resources(self, role: Role, ports: tuple[tuple[int, int], ...],
                   allocation_role: str | None,
                   size: tuple[float, float] | None = None) -> list[dict[str, Any]]:
        """Resources of one task; shared (read-only) between tasks without host ports."""
        key = (role, allocation_role, size)
        if not ports and key in self._res_cache:
            return self._res_cache[key]
        r = self.spec.roles[role]
        cpus, mem = size or (r.cpus, r.mem_mb)
        resources = Resources(cpus, mem, r.disk_mb, ports).to_list()
        if allocation_role:
            for res in resources:
                res["allocation_info"] = {"role": allocation_role}
        if not ports:
            self._res_cache[key] = resources
        return resources

    def _template(self, role: Role, site: str, size: tuple[float, float] | None,
                  broker: int | None = None) -> dict[str, Any]:
        spec = self.spec
        r = spec.roles[role]
        site_spec = spec.site(site)
        env = role_environment(spec, role, site, size, broker)
        labels = role_labels(spec, role, site)
        params = role_docker_parameters(spec, role, site, broker)
        volumes = [{"container_path": v.container_path, "host_path": v.host_path,
                     "mode": v.mode} for v in r.volumes]
        hc = r.health_check
        return {
            "name": f"{spec.pool.name}-{role.value}-{site}"
                    + (f"-{broker}" if role is Role.BROKER else ""),
            "command": {
                "shell": False,  # keep the image's entrypoint
                "arguments": [role.container.value],
                "environment": {"variables": [{"name": k, "value": v} for k, v in env.items()]},
            },
            "container": {
                "type": "DOCKER",
                "docker": {"image": r.image, "network": "USER", "privileged": False,
                           "parameters": params, "force_pull_image": False},
                "network_infos": [{"name": site_spec.calico_network,
                                   "labels": {"labels": _labels(labels)}}],
                "volumes": volumes,
            },
            "health_check": {
                "type": "HTTP",
                "http": {"port": hc.port, "path": hc.path},
                "delay_seconds": 0.0,
                "interval_seconds": float(hc.interval_s),
                "timeout_seconds": float(hc.timeout_s),
                "consecutive_failures": hc.consecutive_failures,
                "grace_period_seconds": float(hc.grace_period_s),
            },
            "kill_policy": {"grace_period": {"nanoseconds": int(r.kill_grace_period_s * 1e9)}},
            "labels": {"labels": _labels(labels)},
        }


def _labels(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]
