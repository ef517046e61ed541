"""What a role task carries in every backend: environment, labels, docker parameters.

Framework mode (:mod:`framework.backends.mesos.tasks`) and Marathon mode
(:mod:`framework.backends.marathon.render`) send the same role containers the same
settings; only the wire format differs. Deciding them once here keeps the two modes
from drifting (a knob added to one and not the other would be a pool that behaves
differently under Marathon). No secret value is ever part of these.
"""
from __future__ import annotations

import base64

from ..condor.brokers import plan_brokers
from ..condor.config import ENV_MASTER_ADDRESS, collector_file_descriptors, render_config
from ..discovery import ENV_DISCOVERY, follower_url
from ..model import Role
from ..spec import ClusterSpec

ENV_ROLE, ENV_SITE, ENV_CONFIG = "HTCMESOS_ROLE", "HTCMESOS_SITE", "HTCMESOS_CONDOR_CONFIG_B64"
ENV_UPDATE_INTERVAL = "HTCMESOS_UPDATE_INTERVAL"
ENV_HEALTH_TIMEOUT = "HTCMESOS_HEALTH_TIMEOUT"
#: the container's check answers within this share of Mesos' health-check timeout
HEALTH_TIMEOUT_SHARE = 0.6
LABEL_POOL, LABEL_ROLE, LABEL_SITE = "htcmesos.pool", "htcmesos.role", "htcmesos.site"
#: Docker labels with this prefix become the Calico workload endpoint's labels, prefix
#: removed (projectcalico/libnetwork-plugin driver/network_driver.go DOCKER_LABEL_PREFIX,
#: CALICO_LIBNETWORK_LABEL_ENDPOINTS): what framework/calico's policy selectors match
CALICO_LABEL_PREFIX = "org.projectcalico.label."


def role_environment(spec: ClusterSpec, role: Role, site: str,
                     size: tuple[float, float] | None = None,
                     broker: int | None = None) -> dict[str, str]:
    """The role container's environment (without the task id, which differs per task).
    ``size``: an executor sized to jobs (cpus, MiB) instead of the role's size; ``broker``:
    which broker a broker task is, or a private site's executor registers with
    (framework/condor/brokers.py). A broker's container runs the master role."""
    r = spec.roles[role]
    config = render_config(spec, role, site, size=size, broker=broker)
    # where the central manager is published, for the container's follower (discovery.md)
    follow = follower_url(spec.network.discovery)
    extra = {ENV_DISCOVERY: follow} if follow else {}
    return extra | {ENV_ROLE: role.container.value, ENV_SITE: site,
            ENV_CONFIG: base64.b64encode(config.encode()).decode("ascii"),
            ENV_MASTER_ADDRESS: spec.master_address,
            # the health check's grace after a collector restart (3 updates)
            ENV_UPDATE_INTERVAL: str(int(spec.pool.update_interval_s)),
            # a collector that hangs (frozen, overloaded) must give a timely "unreachable"
            # answer, which the container tolerates; a check that outlasts Mesos' own
            # timeout counts as a failure no tolerance sees, and kills executors with
            # their running jobs
            ENV_HEALTH_TIMEOUT: f"{max(0.5, r.health_check.timeout_s * HEALTH_TIMEOUT_SHARE):g}"}


def role_labels(spec: ClusterSpec, role: Role, site: str) -> dict[str, str]:
    """Labels naming pool, role and site: how a restarted htcmesos knows its tasks."""
    return {LABEL_POOL: spec.pool.name, LABEL_ROLE: role.value, LABEL_SITE: site}


def role_docker_parameters(spec: ClusterSpec, role: Role,
                           site: str | None = None,
                           broker: int | None = None) -> list[dict[str, str]]:
    """``docker run`` parameters: the spec's, the Calico endpoint labels (pool, role and
    ``site``, when given), and for the master its open-file limit (the collector's
    connections) and its fixed Calico address (``--ip``)."""
    params = [{"key": k, "value": v} for k, v in spec.roles[role].docker_parameters]
    if site is not None:
        params += [{"key": "label", "value": f"{CALICO_LABEL_PREFIX}{k}={v}"}
                   for k, v in role_labels(spec, role, site).items()]
    if role is Role.MASTER:
        fds = collector_file_descriptors(spec)
        params.append({"key": "ulimit", "value": f"nofile={fds}:{fds}"})
        if not spec.master_dynamic:          # dynamic: the network's IPAM picks one
            params.append({"key": "ip", "value": spec.master_address})
    elif role is Role.BROKER:       # broker ``broker`` of the plan, at its fixed address
        planned = plan_brokers(spec).broker(broker or 0)
        fds = planned.file_descriptors
        params.append({"key": "ulimit", "value": f"nofile={fds}:{fds}"})
        params.append({"key": "ip", "value": planned.address})
    return params
