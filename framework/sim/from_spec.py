"""An emulated Mesos cluster shaped like a cluster spec's sites (for the demo and tests)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..model import Role
from ..spec import ClusterSpec, MesosBackendSpec
from .mesos.model import SiteLayout
from .runner import TaskRunner


def site_layouts(spec: ClusterSpec, agents_per_site: int | None = None,
                 executors_per_agent: int = 2, runner: TaskRunner | None = None
                 ) -> list[SiteLayout]:
    """One layout per spec site: agents recognised as the spec says, on its Calico network,
    each big enough for ``executors_per_agent`` executors plus a master and a submitter;
    ``runner`` runs their tasks (default: the cluster's simulated runner)."""
    ex = spec.roles[Role.EXECUTOR]
    big = [spec.roles[Role.MASTER], spec.roles[Role.SUBMITTER]]
    cpus = ex.cpus * executors_per_agent + sum(r.cpus for r in big)
    mem = ex.mem_mb * executors_per_agent + sum(r.mem_mb for r in big)
    disk = ex.disk_mb * executors_per_agent + sum(r.disk_mb for r in big)
    n = agents_per_site or spec.backend.sim.agents_per_site
    out = []
    for site in spec.sites:
        attrs = {site.agents.attribute[0]: site.agents.attribute[1]} \
            if site.agents.attribute else {}
        out.append(SiteLayout(site.name, agents=n, cpus=cpus, mem=mem, disk=disk,
                              attributes=attrs, region=site.agents.region,
                              zone=site.agents.zone, network=site.calico_network,
                              cidr=str(site.cidr), private=site.private, runner=runner))
    return out


def with_mesos_backend(spec: ClusterSpec, master_url: str, state: Path,
                       framework_name: str = "htcmesos-demo") -> ClusterSpec:
    """``spec`` pointed at an emulated master (on loopback, as the credential server the
    emulated agents fetch from), with its state in ``state``."""
    mesos = MesosBackendSpec(master=master_url, framework_name=framework_name,
                             role="htcondor", failover_timeout_s=600, state=str(state),
                             credential_listen="127.0.0.1:0")
    backend = dataclasses.replace(spec.backend, type="mesos", mesos=mesos)
    return dataclasses.replace(spec, backend=backend)
