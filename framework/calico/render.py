"""The pool's Calico v3 resources, rendered from the spec (pure).

Per site an IPPool ``<pool>-<site>``; for the pool a set of GlobalNetworkPolicies
``<pool>-…`` in the ``default`` tier that select the pool's workload endpoints by the labels
every role container carries (``htcmesos.pool``, ``htcmesos.role``, ``htcmesos.site``, see
framework/backends/roleparts.py). docs/calico.md has the table and the reasoning.

Every resource carries :data:`OWNER_LABEL` ``= <pool>``: how apply and check know which
keys in the datastore are the pool's (and remove those no longer rendered).
"""
from __future__ import annotations

import ipaddress

from typing import Any

import yaml

from ..backends.roleparts import LABEL_POOL, LABEL_ROLE
from ..condor.brokers import broker_count
from ..model import SHARED_PORT, Role
from ..spec import ClusterSpec, SiteSpec
from .selector import quote
from .sizing import PoolSize, block_size

API_VERSION = "projectcalico.org/v3"
OWNER_LABEL = "htcmesos.io/pool"
SITE_LABEL = "htcmesos.io/site"
SSH_PORT = 22
#: policy orders inside the default tier: ours first among the operator's usual ones
#: (Calico evaluates ascending, no order = last: felix/calc/policy_sorter.go)
ORDER_ALLOW, ORDER_DENY = 100, 1000
#: the roles placed in the master's site besides its executors, whose shared port the
#: client CIDRs reach (a broker is a piece of the master's CCB: framework/condor/brokers.py)
CENTRAL_ROLES = (Role.MASTER, Role.SUBMITTER, Role.BROKER)


def pool_selector(pool: str) -> str:
    return f"{LABEL_POOL} == {quote(pool)}"


def site_tasks(spec: ClusterSpec, site: SiteSpec) -> int:
    """Tasks that may hold an address of ``site``'s pool at once."""
    if site.name != spec.master_site.name:
        return site.executors_max
    return site.executors_max + 2 + (broker_count(spec) - 1)   # master, submitter, brokers


def site_pool_size(spec: ClusterSpec, site: SiteSpec) -> PoolSize:
    return block_size(site.name, site.cidr, site_tasks(spec, site), site.block_size)


def _meta(spec: ClusterSpec, name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "labels": {OWNER_LABEL: spec.pool.name, **labels}}


def ip_pool(spec: ClusterSpec, site: SiteSpec) -> dict[str, Any]:
    """The site's IPPool; fields as Calico's client would store them after defaulting
    (libcalico-go/lib/clientv3/ippool.go: nodeSelector ``all()``, allowedUses)."""
    encap = {"ipip": ("CrossSubnet", "Never"), "vxlan": ("Never", "CrossSubnet"),
             "none": ("Never", "Never")}[site.encapsulation]
    spec_part: dict[str, Any] = {
        "cidr": str(site.cidr),
        "vxlanMode": encap[1],
        "ipipMode": encap[0],
        "natOutgoing": site.nat_outgoing,
        "blockSize": site_pool_size(spec, site).block_size,
        "nodeSelector": "all()",
        "allowedUses": ["Workload", "Tunnel"],
    }
    return {"apiVersion": API_VERSION, "kind": "IPPool",
            "metadata": _meta(spec, f"{spec.pool.name}-{site.name}", **{SITE_LABEL: site.name}),
            "spec": spec_part}


def _policy(spec: ClusterSpec, suffix: str, selector: str, order: float, types: list[str],
            ingress: list[dict[str, Any]] | None = None,
            egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"tier": "default", "order": order, "selector": selector,
                            "types": types}
    if ingress is not None:
        body["ingress"] = ingress
    if egress is not None:
        body["egress"] = egress
    return {"apiVersion": API_VERSION, "kind": "GlobalNetworkPolicy",
            "metadata": _meta(spec, f"{spec.pool.name}-{suffix}"), "spec": body}


def _from_nets(cidrs, port: int) -> list[dict[str, Any]]:
    """Allow TCP ``port`` from ``cidrs``: one rule per IP version (a rule may not mix)."""
    rules = []
    for version in (4, 6):
        nets = [str(c) for c in cidrs if c.version == version]
        if nets:
            rules.append({"action": "Allow", "protocol": "TCP", "ipVersion": version,
                          "source": {"nets": nets}, "destination": {"ports": [port]}})
    return rules


def policies(spec: ClusterSpec) -> list[dict[str, Any]]:
    pool = spec.pool.name
    members = pool_selector(pool)
    central = (f"{members} && {LABEL_ROLE} in "
               f"{{{', '.join(quote(r.value) for r in CENTRAL_ROLES)}}}")
    submitter = f"{members} && {LABEL_ROLE} == {quote(Role.SUBMITTER.value)}"
    # a site behind a NAT (sites[].nat_address, HTCondor's TCP_FORWARDING_HOST): its
    # daemons' connections to the other sites' members come from the NAT's address
    nats = [ipaddress.ip_network(s.nat_address) for s in spec.sites if s.nat_address]
    out = [
        _policy(spec, "members", members, ORDER_ALLOW, ["Ingress"], ingress=[
            {"action": "Allow", "protocol": "TCP", "source": {"selector": members},
             "destination": {"ports": [SHARED_PORT]}}] + _from_nets(nats, SHARED_PORT)),
        _policy(spec, "egress", members, ORDER_ALLOW, ["Egress"], egress=[{"action": "Allow"}]),
    ]
    cidrs = spec.network.client_cidrs
    if cidrs:
        out.append(_policy(spec, "clients", central, ORDER_ALLOW + 10, ["Ingress"],
                           ingress=_from_nets(cidrs, SHARED_PORT)))
    if cidrs and spec.network.submitter_ssh:
        out.append(_policy(spec, "submitter-ssh", submitter, ORDER_ALLOW + 20, ["Ingress"],
                           ingress=_from_nets(cidrs, SSH_PORT)))
    out.append(_policy(spec, "deny", members, ORDER_DENY, ["Ingress"],
                       ingress=[{"action": "Deny"}]))
    return out


def render_resources(spec: ClusterSpec) -> list[dict[str, Any]]:
    """IPPools (one per site, in spec order), then the pool's policies."""
    return [ip_pool(spec, site) for site in spec.sites] + policies(spec)


def to_yaml(resources: list[dict[str, Any]]) -> str:
    """calicoctl-style YAML: one document per resource (``calicoctl apply -f`` reads it)."""
    return yaml.safe_dump_all(resources, sort_keys=False, default_flow_style=False)

