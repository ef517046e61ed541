"""The pool as one Marathon group: ``render_group(spec)`` (docs/marathon.md, "The group").

The apps carry what framework mode sends each task (:mod:`framework.backends.roleparts`:
environment, labels, docker parameters) in Marathon 1.5+'s form only: ``networks`` and
``container.portMappings``, never ``ipAddress`` / ``docker.network`` / ``ports`` (mixed
with ``networks`` they are a 422; alone Marathon converts them silently). Keys and tokens
are referenced from the operator's secret store (``secrets`` + an ``env`` entry
``{"secret": …}``), never rendered as values. Ids are absolute, so the rendered group,
Marathon's answer to ``GET /v2/groups`` and the diff of :mod:`.apply` name apps alike.
"""
from __future__ import annotations

import math
from typing import Any

from ...condor.brokers import plan_brokers
from ...model import Role
from ...spec import ClusterSpec, SiteSpec
from ..roleparts import role_docker_parameters, role_environment, role_labels
from .secrets import BUNDLE_ENV, SECRET_NAME, secret_source

DEFAULT_GROUP = "/htcondor"
#: one at a time: a second master cannot hold the fixed address, nor a second submitter
#: the queue, so the old task goes before the new one starts
SINGLETON_UPGRADE = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
#: never below healthy capacity: a new executor is healthy before an old one is killed
EXECUTOR_UPGRADE = {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.2}
BACKOFF = {"backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300}
HEALTH_PORT_NAME = "health"


def group_id(spec: ClusterSpec) -> str:
    """``<backend.marathon.group>/<pool>``, e.g. ``/htcondor/twosites``."""
    m = spec.backend.marathon
    base = (m.group if m is not None else DEFAULT_GROUP).rstrip("/")
    return f"{base}/{spec.pool.name}"


def app_id(spec: ClusterSpec, role: Role, site: str | None = None,
           broker: int | None = None) -> str:
    """Absolute id of a role's app: ``…/master``, ``…/submitter``, ``…/executor-<site>``,
    ``…/broker-<n>`` (the extra connection brokers, framework/condor/brokers.py)."""
    if role is Role.BROKER:
        if not broker:
            raise ValueError("a broker app is per broker: give its number (1 …)")
        return f"{group_id(spec)}/broker-{broker}"
    if role is Role.EXECUTOR:
        if not site:
            raise ValueError("an executor app is per site: give the site")
        return f"{group_id(spec)}/executor-{site}"
    return f"{group_id(spec)}/{role.value}"


def constraints(site: SiteSpec) -> list[list[str]]:
    """Pin to the site's agents: by attribute, or by Marathon 1.5+'s fault-domain fields."""
    if site.agents.attribute is not None:
        name, value = site.agents.attribute
        return [[name, "CLUSTER", value]]
    pins = [["@region", "CLUSTER", str(site.agents.region)]]
    if site.agents.zone:
        pins.append(["@zone", "CLUSTER", site.agents.zone])
    return pins


def _seconds(value: float) -> int:
    """Marathon's durations are whole seconds: a fraction rounds up (never a shorter
    grace or timeout than the spec asks for)."""
    return int(math.ceil(value))


def _num(value: float) -> int | float:
    """Whole numbers as ints (JSON ``2048``, not ``2048.0``): what an operator writes."""
    return int(value) if float(value).is_integer() else float(value)


def render_app(spec: ClusterSpec, role: Role, site: SiteSpec,
               broker: int | None = None) -> dict[str, Any]:
    """One role's app at ``site`` (the master's site for master, submitter and brokers;
    ``broker``: which broker)."""
    r = spec.roles[role]
    hc = r.health_check
    env: dict[str, Any] = dict(role_environment(spec, role, site.name, broker=broker))
    env[BUNDLE_ENV] = {"secret": SECRET_NAME}
    app: dict[str, Any] = {
        "id": app_id(spec, role, site.name, broker),
        "instances": site.executors_min if role is Role.EXECUTOR else 1,
        "cpus": _num(r.cpus), "mem": _num(r.mem_mb), "disk": _num(r.disk_mb),
        "args": [role.container.value],   # keep the image's entrypoint, as framework mode does
        "container": {
            "type": "DOCKER",
            "docker": {"image": r.image, "forcePullImage": False, "privileged": False,
                       "parameters": role_docker_parameters(spec, role, site.name, broker)},
            "portMappings": [{"containerPort": hc.port, "name": HEALTH_PORT_NAME,
                              "protocol": "tcp"}],
            "volumes": [{"containerPath": v.container_path, "hostPath": v.host_path,
                         "mode": v.mode} for v in r.volumes],
        },
        "networks": [{"mode": "container", "name": site.calico_network}],
        "env": env,
        "secrets": {SECRET_NAME: {"source": secret_source(spec, role)}},
        "labels": role_labels(spec, role, site.name),
        "constraints": constraints(site),
        "healthChecks": [{
            "protocol": "MESOS_HTTP", "path": hc.path, "portIndex": 0,
            # the first check at once (Marathon waits 15 s by default): the container's
            # check tolerates a collector that is still starting, and the submitter and
            # executors start only once the master is healthy
            "delaySeconds": 0,
            "gracePeriodSeconds": _seconds(hc.grace_period_s),
            "intervalSeconds": _seconds(hc.interval_s),
            "timeoutSeconds": _seconds(hc.timeout_s),
            "maxConsecutiveFailures": hc.consecutive_failures}],
        "upgradeStrategy": dict(EXECUTOR_UPGRADE if role is Role.EXECUTOR
                                else SINGLETON_UPGRADE),
        **BACKOFF,
        "taskKillGracePeriodSeconds": _seconds(r.kill_grace_period_s),
    }
    if role is not Role.MASTER:        # the collector first: everyone else registers there
        app["dependencies"] = [app_id(spec, Role.MASTER)]
    broker_of_site = plan_brokers(spec).site(site.name).marathon_broker \
        if role is Role.EXECUTOR and site.private else None
    if broker_of_site:                 # and the broker its executors register with
        app["dependencies"].append(app_id(spec, Role.BROKER, broker=broker_of_site))
    if role is not Role.EXECUTOR:
        # a replacement cannot take an address (or a queue) still held behind a partition
        app["unreachableStrategy"] = "disabled"
    return app


def render_group(spec: ClusterSpec) -> dict[str, Any]:
    """The pool's group: master, submitter, one executor app per site, and an app per
    extra connection broker when the plan has more than one (framework/condor/brokers.py;
    each private site's executors use one broker in this mode)."""
    home = spec.master_site
    apps = [render_app(spec, Role.MASTER, home), render_app(spec, Role.SUBMITTER, home)]
    apps += [render_app(spec, Role.EXECUTOR, site) for site in spec.sites]
    apps += [render_app(spec, Role.BROKER, home, b.index) for b in plan_brokers(spec).extra]
    return {"id": group_id(spec), "apps": apps}
