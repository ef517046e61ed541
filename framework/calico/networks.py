"""The Docker network each site's tasks join: Calico's where it runs, else a plain bridge.

With Calico's libnetwork plugin a site's network is ``docker network create --driver calico
--ipam-driver calico-ipam --subnet <site cidr> <calico.network>``: the plugin accepts a
subnet only when it equals an existing Calico IPPool (so ``calico apply`` comes first) and
labels each endpoint from the container's ``org.projectcalico.label.*`` Docker labels
(projectcalico/libnetwork-plugin driver/network_driver.go). Where no Calico plugin is
installed (the emulated cluster, a laptop) the same name and subnet become a Docker bridge
network, which hands out addresses only from the subnet's upper half (the lower half holds
fixed addresses such as the master's ``--ip``, as a Calico IPReservation would); Calico
policy does not apply there, and the caller says so.

:func:`create_network` is the one place a site network is created, also for the emulated
cluster's Docker task runner (framework/sim/docker/objects.py).
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import docker.types

from ..errors import CalicoNetworkError
from ..spec import ClusterSpec, SiteSpec

CALICO_DRIVER, CALICO_IPAM = "calico", "calico-ipam"
BRIDGE_OPTION = "com.docker.network.bridge.name"
POOL_LABEL, SITE_LABEL = "htcmesos.io/pool", "htcmesos.io/site"


@dataclass(frozen=True)
class SiteNetwork:
    site: str
    name: str
    cidr: str
    driver: str              # the existing or created network's driver
    created: bool
    #: why a bridge stands in for Calico (None: Calico's network, or one that existed)
    fallback: str | None = None

    def describe(self) -> str:
        state = "created" if self.created else "exists"
        line = f"site {self.site}: network {self.name} ({self.cidr}) {state}, driver {self.driver}"
        if self.fallback:
            line += f" — {self.fallback}: a plain bridge network instead, no Calico policy " \
                    f"applies to it"
        return line


def upper_half(cidr: str) -> str | None:
    """The range a bridge network assigns from: the subnet's upper half (None: the whole
    subnet, when it has fewer than 8 addresses)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return str(list(net.subnets(prefixlen_diff=1))[1]) if net.num_addresses >= 8 else None


#: where Docker finds a legacy (v1) plugin: a socket, or a spec file
#: (moby pkg/plugins/discovery.go: socketsPath, specsPaths)
LEGACY_PLUGIN_PATHS = ("/run/docker/plugins/calico.sock", "/etc/docker/plugins/calico.spec",
                       "/etc/docker/plugins/calico.json", "/usr/lib/docker/plugins/calico.spec",
                       "/usr/lib/docker/plugins/calico.json")


def calico_plugin(client: docker.DockerClient) -> str | None:
    """Where the Calico network plugin was found, or None: a ``calico`` network driver in
    ``docker info`` (a managed plugin, or a legacy one already loaded), else a legacy
    plugin's socket or spec file on this host. Asking Docker for an unknown driver
    instead costs seconds per network (the engine waits for a legacy plugin to appear)."""
    try:
        drivers = (client.info().get("Plugins") or {}).get("Network") or []
    except docker.errors.DockerException:
        drivers = []
    if any(str(d).split(":")[0] == CALICO_DRIVER for d in drivers):
        return "docker info"
    return next((p for p in LEGACY_PLUGIN_PATHS if os.path.exists(p)), None)


def _plugin_missing(exc: docker.errors.APIError) -> bool:
    text = str(getattr(exc, "explanation", "") or exc).lower()
    return "plugin" in text and ("not found" in text or "not exist" in text)


def create_network(client: docker.DockerClient, name: str, cidr: str, *, calico: bool,
                   labels: dict[str, str] | None = None, bridge_name: str | None = None,
                   iprange: str | None = None) -> Any:
    """Create Docker network ``name`` for ``cidr``: Calico's (driver ``calico``, IPAM
    ``calico-ipam``) or a bridge (``bridge_name``: its host interface; ``iprange``: the
    addresses it assigns). Docker's errors pass through (409: it exists)."""
    net = ipaddress.ip_network(cidr, strict=False)
    if calico:
        ipam = docker.types.IPAMConfig(driver=CALICO_IPAM,
                                       pool_configs=[docker.types.IPAMPool(subnet=str(net))])
        return client.networks.create(name, driver=CALICO_DRIVER, ipam=ipam,
                                      check_duplicate=True, enable_ipv6=net.version == 6,
                                      labels=labels or {})
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(net),
                                                                       iprange=iprange)])
    return client.networks.create(name, driver="bridge", ipam=ipam, check_duplicate=True,
                                  enable_ipv6=net.version == 6,
                                  options={BRIDGE_OPTION: bridge_name} if bridge_name else {},
                                  labels=labels or {})


def _subnets(net: Any) -> list[str]:
    return [c.get("Subnet", "") for c in (net.attrs.get("IPAM") or {}).get("Config") or []]


def ensure_site_network(client: docker.DockerClient, pool: str, site: SiteSpec,
                        prefer_calico: bool = True) -> SiteNetwork:
    """The site's network, created when missing (Calico's if ``prefer_calico`` and the
    plugin answers, else a bridge). An existing network of that name must have the site's
    subnet."""
    name, cidr = site.calico_network, str(site.cidr)
    try:
        existing = client.networks.get(name)
    except docker.errors.NotFound:
        existing = None
    except docker.errors.DockerException as exc:
        raise CalicoNetworkError(f"cannot ask Docker for network {name}: {exc}") from None
    if existing is not None:
        subnets = _subnets(existing)
        if not any(_same(s, cidr) for s in subnets):
            raise CalicoNetworkError(
                f"site {site.name}: Docker network {name} exists with subnet "
                f"{', '.join(subnets) or 'none'}, the spec says {cidr}; remove it or fix "
                f"sites[].calico")
        return SiteNetwork(site.name, name, cidr, existing.attrs.get("Driver", "?"), False)
    labels = {POOL_LABEL: pool, SITE_LABEL: site.name}
    fallback = None
    if prefer_calico and calico_plugin(client) is None:
        prefer_calico, fallback = False, "the Calico network plugin is absent"
    elif not prefer_calico:
        fallback = "Calico not asked for (--bridge)"
    if prefer_calico:
        try:
            create_network(client, name, cidr, calico=True, labels=labels)
            return SiteNetwork(site.name, name, cidr, CALICO_DRIVER, True)
        except docker.errors.APIError as exc:
            if not _plugin_missing(exc):
                raise CalicoNetworkError(f"site {site.name}: cannot create Calico network "
                                         f"{name} ({cidr}): {exc.explanation or exc}") from None
            fallback = "the Calico network plugin is absent"
    try:
        create_network(client, name, cidr, calico=False, labels=labels,
                       iprange=upper_half(cidr))
    except docker.errors.APIError as exc:
        raise CalicoNetworkError(f"site {site.name}: cannot create bridge network {name} "
                                 f"({cidr}): {exc.explanation or exc}") from None
    return SiteNetwork(site.name, name, cidr, "bridge", True, fallback)


def ensure_networks(client: docker.DockerClient, spec: ClusterSpec,
                    prefer_calico: bool = True) -> list[SiteNetwork]:
    """Every site's network (see :func:`ensure_site_network`), in spec order."""
    return [ensure_site_network(client, spec.pool.name, site, prefer_calico)
            for site in spec.sites]


def _same(subnet: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_network(subnet, strict=False) == ipaddress.ip_network(cidr)
    except ValueError:
        return False
