"""Docker TaskInfo for a role task, exactly as PROTOCOLS.md describes it.

Task ids carry pool, role and site (``<pool>.<role>.<site>.<hex>``) so a restarted
framework knows every task it gets back from reconciliation. Secrets travel as a
read-only volume of the key *file*; the environment holds only non-secret values.
"""
from __future__ import annotations

import base64
import re
import secrets as _random
from typing import Any

from ..condor.config import (ENV_MASTER_ADDRESS, ENV_TASK_ID, collector_file_descriptors,
                             render_config)
from ..mesos.protocol import Resources
from ..model import Role
from ..spec import ClusterSpec

#: Where role containers find the signing key (the entrypoint installs it with 0600).
KEY_MOUNT = "/etc/condor/passwords-orig.d/POOL"
ENV_ROLE, ENV_SITE, ENV_CONFIG = "HTCMESOS_ROLE", "HTCMESOS_SITE", "HTCMESOS_CONDOR_CONFIG_B64"
LABEL_POOL, LABEL_ROLE, LABEL_SITE = "htcmesos.pool", "htcmesos.role", "htcmesos.site"

_TASK_ID = re.compile(r"(?P<pool>[a-z][a-z0-9-]*)\.(?P<role>master|submitter|executor)\."
                      r"(?P<site>[a-z][a-z0-9-]*)\.(?P<uid>[0-9a-f]{6,32})")


def new_task_id(pool: str, role: Role, site: str) -> str:
    return f"{pool}.{role.value}.{site}.{_random.token_hex(6)}"


def parse_task_id(task_id: str, pool: str) -> tuple[Role, str] | None:
    """(role, site) of one of this pool's task ids, or None for anything else."""
    match = _TASK_ID.fullmatch(task_id)
    if not match or match["pool"] != pool:
        return None
    return Role(match["role"]), match["site"]


def build_task_info(spec: ClusterSpec, role: Role, site: str, task_id: str, agent_id: str,
                    ports: tuple[tuple[int, int], ...] = (),
                    master_address: str | None = None,
                    allocation_role: str | None = None) -> dict[str, Any]:
    """The TaskInfo JSON of one role task placed on ``agent_id`` at ``site``."""
    return TaskInfoFactory(spec).build(role, site, task_id, agent_id, ports, master_address,
                                       allocation_role)


class TaskInfoFactory:
    """Builds TaskInfos from a template per (role, site, master address): the rendered
    config and everything else that is the same for every task is made once."""

    def __init__(self, spec: ClusterSpec):
        self.spec = spec
        self._templates: dict[tuple[Role, str, str | None], dict[str, Any]] = {}
        self._res_cache: dict[tuple[Role, str | None], list[dict[str, Any]]] = {}

    def build(self, role: Role, site: str, task_id: str, agent_id: str,
              ports: tuple[tuple[int, int], ...] = (), master_address: str | None = None,
              allocation_role: str | None = None) -> dict[str, Any]:
        key = (role, site, master_address if role is not Role.MASTER else None)
        tpl = self._templates.get(key)
        if tpl is None:
            tpl = self._templates[key] = self._template(*key)
        resources = self._resources(role, ports, allocation_role)
        command = dict(tpl["command"])
        command["environment"] = {"variables": tpl["command"]["environment"]["variables"]
                                  + [{"name": ENV_TASK_ID, "value": task_id}]}
        info = dict(tpl)
        info.update(task_id={"value": task_id}, agent_id={"value": agent_id},
                    resources=resources, command=command)
        return info

    def _resources(self, role: Role, ports: tuple[tuple[int, int], ...],
                   allocation_role: str | None) -> list[dict[str, Any]]:
        """Resources of one task; shared (read-only) between tasks without host ports."""
        key = (role, allocation_role)
        if not ports and key in self._res_cache:
            return self._res_cache[key]
        r = self.spec.roles[role]
        resources = Resources(r.cpus, r.mem_mb, r.disk_mb, ports).to_list()
        if allocation_role:
            for res in resources:
                res["allocation_info"] = {"role": allocation_role}
        if not ports:
            self._res_cache[key] = resources
        return resources

    def _template(self, role: Role, site: str, master_address: str | None) -> dict[str, Any]:
        spec = self.spec
        r = spec.roles[role]
        site_spec = spec.site(site)
        config = render_config(spec, role, site, master_address)
        env = {ENV_ROLE: role.value, ENV_SITE: site,
               ENV_CONFIG: base64.b64encode(config.encode()).decode("ascii")}
        if master_address:
            env[ENV_MASTER_ADDRESS] = master_address
        labels = {LABEL_POOL: spec.pool.name, LABEL_ROLE: role.value, LABEL_SITE: site}
        params = [{"key": k, "value": v} for k, v in r.docker_parameters]
        if role is Role.MASTER:
            fds = collector_file_descriptors(spec)
            params.append({"key": "ulimit", "value": f"nofile={fds}:{fds}"})
        volumes = [{"container_path": KEY_MOUNT, "host_path": str(spec.pool.signing_key_file),
                    "mode": "RO"}]
        volumes += [{"container_path": v.container_path, "host_path": v.host_path,
                     "mode": v.mode} for v in r.volumes]
        hc = r.health_check
        return {
            "name": f"{spec.pool.name}-{role.value}-{site}",
            "command": {
                "shell": False,  # keep the image's entrypoint
                "arguments": [role.value],
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
