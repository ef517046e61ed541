"""Validation rules of the spec's ``network`` block: client CIDRs, brokers, discovery.

```yaml
network:
  client_cidrs: [192.0.2.0/24]     # may reach the master's and submitter's shared port
  submitter_ssh: false             # also ssh (22) to the submitter from those CIDRs
  brokers: {count: 2, registrations_per_broker: 5000}   # count omitted: planned
  discovery: {type: zookeeper, url: "zk://zk1:2181/htcmesos/mypool/central-manager"}
  # or:      {type: consul, url: "http://127.0.0.1:8500", service: mypool-cm}
```
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from .spec import BackendSpec, BrokerSpec, DiscoverySpec, NetworkSpec
from .specchecks import Checker

ZK_URL = r"zk://[^/\s,]+(,[^/\s,]+)*(/[A-Za-z0-9_.-]+)+"
HTTP_URL = r"https?://[^\s/]+/?"
#: a Consul service name that is also a DNS label (<service>.service.consul)
SERVICE = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"


def default_zookeeper(backend: BackendSpec | None, pool: str) -> str:
    """In framework mode (``backend.type: mesos``): a znode in the Mesos masters'
    ZooKeeper (or the framework state's); else ""."""
    mesos = backend.mesos if backend and backend.type == "mesos" else None
    for url in ((mesos.master, mesos.state) if mesos else ()):
        if url.startswith("zk://"):
            hosts = url[5:].split("/", 1)[0]
            return f"zk://{hosts}/htcmesos/{pool}/central-manager"
    return ""


def network_spec(value: Any, c: Checker, backend: BackendSpec | None, pool: str) -> NetworkSpec:
    p = ("network",)
    d = c.mapping(value, p, ["client_cidrs", "submitter_ssh", "brokers", "discovery"])
    cidrs = []
    for i, item in enumerate(c.sequence(d.get("client_cidrs"), p + ("client_cidrs",),
                                        "CIDRs")):
        try:
            cidrs.append(ipaddress.ip_network(str(item), strict=True))
        except ValueError as exc:
            c.problem(p + ("client_cidrs", i), f"'{item}' is not a network in CIDR form "
                                               f"(e.g. 192.0.2.0/24): {exc}")
    ssh = c.boolean(d, "submitter_ssh", p, False)
    if ssh and not cidrs:
        c.problem(p + ("submitter_ssh",), "ssh to the submitter is opened to client_cidrs, "
                                          "and there are none: list them")
    return NetworkSpec(tuple(cidrs), ssh, _brokers(d.get("brokers"), p + ("brokers",), c),
                       _discovery(d.get("discovery"), p + ("discovery",), c, backend, pool))


def _brokers(value: Any, p: tuple, c: Checker) -> BrokerSpec:
    d = c.mapping(value, p, ["count", "registrations_per_broker"])
    count = c.integer(d, "count", p, minimum=1) if "count" in d else None
    per = c.integer(d, "registrations_per_broker", p, BrokerSpec.registrations_per_broker,
                    minimum=100)
    return BrokerSpec(count, per)


def _discovery(value: Any, p: tuple, c: Checker, backend: BackendSpec | None,
               pool: str) -> DiscoverySpec:
    d = c.mapping(value, p, ["type", "url", "service"])
    zk = default_zookeeper(backend, pool)
    kind = c.choice(d, "type", p, ["zookeeper", "consul", "none"],
                    "zookeeper" if zk else "none")
    if kind == "none":
        for key in ("url", "service"):
            if key in d:
                c.problem(p + (key,), f"'{key}' has no use with type: none")
        return DiscoverySpec()
    if kind == "zookeeper":
        if "service" in d:
            c.problem(p + ("service",), "'service' is for type: consul")
        if "url" not in d and not zk:
            c.problem(p + ("url",), "type: zookeeper needs a url (zk://host:2181/path): the "
                                    "Mesos master is not given as zk://, so none can be derived")
            return DiscoverySpec()
        url = c.string(d, "url", p, zk, pattern=ZK_URL,
                       describe="zk://host:2181[,host:2181]/path/of/the/znode")
        return DiscoverySpec("zookeeper", url)
    url = c.string(d, "url", p, "http://127.0.0.1:8500", pattern=HTTP_URL,
                   describe="the Consul agent's HTTP API, e.g. http://127.0.0.1:8500")
    service = c.string(d, "service", p, f"{pool}-central-manager"[:63].strip("-"),
                       pattern=SERVICE, describe="a DNS label: lower-case letters, digits, '-'")
    return DiscoverySpec("consul", url.rstrip("/"), service)


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://h1:2181,h2:2181/a/b`` → (``"h1:2181,h2:2181"``, ``"/a/b"``)."""
    if not re.fullmatch(ZK_URL, url):
        raise ValueError(f"{url!r} is not zk://host:port[,host:port]/path")
    hosts, _, path = url[5:].partition("/")
    return hosts, "/" + path
