"""Discovery of the central manager: its address is published when it changes
(ZooKeeper by default, Consul as an option) and everything that connects to it follows
(docs/discovery.md).

- :class:`~.base.Publisher` (ABC), :class:`~.base.Record`;
- :class:`~.zookeeper.ZooKeeperPublisher`, :class:`~.consul.ConsulPublisher`;
- :class:`~.announce.Announcer`: publishes when the master task's address changes;
- :func:`publisher_for` (the spec's choice), :func:`follower_url` (what the role
  containers' follower is given in ``HTCMESOS_DISCOVERY``).
"""
from __future__ import annotations

from ..spec import ClusterSpec, DiscoverySpec
from .announce import Announcer, running_master
from .base import Publisher, Record

#: environment variable of the role containers naming where to follow the master
ENV_DISCOVERY = "HTCMESOS_DISCOVERY"

__all__ = ["Announcer", "ENV_DISCOVERY", "Publisher", "Record", "follower_url",
           "publisher_for", "running_master"]


def follower_url(discovery: DiscoverySpec) -> str:
    """``zk://hosts/path`` or ``consul+http://host:8500/<service>``; "" for none."""
    if discovery.type == "zookeeper":
        return discovery.url
    if discovery.type == "consul":
        return f"consul+{discovery.url.rstrip('/')}/{discovery.service}"
    return ""


def publisher_for(spec: ClusterSpec) -> Publisher | None:
    """The publisher the spec asks for (None: ``network.discovery.type: none``)."""
    d = spec.network.discovery
    if d.type == "zookeeper":
        from .zookeeper import ZooKeeperPublisher
        return ZooKeeperPublisher(d.url)
    if d.type == "consul":
        from ..model import Role
        from .consul import ConsulPublisher
        interval = max(1.0, spec.pool.update_interval_s)
        return ConsulPublisher(d.url, d.service, interval_s=interval,
                               timeout_s=min(5.0, interval),
                               health_port=spec.roles[Role.MASTER].health_check.port)
    return None
