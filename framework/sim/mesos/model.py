"""State records of the emulated cluster: sites, agents, frameworks, tasks, offers.

Plain mutable records guarded by :class:`~framework.sim.mesos.cluster.SimCluster`'s lock.
Units: cpus in cores, mem/disk in MiB, times in clock seconds.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...mesos.protocol import Resources, TaskState, scalar, text_attribute
from .resources import offer_resources_json
from ..runner import AgentInfo, TaskRunner

AGENT_PORT = 5051


@dataclass(frozen=True)
class SiteLayout:
    """``agents`` identical agents of one site (a data centre, cloud or campus cluster).

    ``attributes`` default to ``{"site": name}``; ``network``/``cidr`` name the Calico
    network the site's agents can attach (more in ``networks``, name → CIDR); ``region`` and
    ``zone`` set the agents' fault domain; ``runner`` replaces the cluster's default runner.
    """

    name: str
    agents: int = 1
    cpus: float = 4.0
    mem: float = 8192.0            # MiB
    disk: float = 65536.0          # MiB
    ports: tuple[int, int] = (31000, 32000)
    attributes: dict[str, str | float] | None = None
    region: str | None = None
    zone: str | None = None
    network: str | None = None     # default "calico-<name>"
    cidr: str = "10.1.0.0/16"
    networks: dict[str, str] | None = None
    runner: TaskRunner | None = None
    #: no inbound connections from other sites (Docker runner: iptables'd networks)
    private: bool = False

    def all_networks(self) -> dict[str, str]:
        nets = {self.network or f"calico-{self.name}": self.cidr}
        nets.update(self.networks or {})
        return nets


class Subscriber(Protocol):
    """One framework's event stream, as the cluster sees it (see :mod:`.stream`)."""

    stream_id: str
    master: Any

    def send(self, event: dict[str, Any] | bytes, framed: bool = True) -> None: ...

    def close(self, error: str | None = None) -> None: ...

    def start_heartbeats(self) -> None: ...


@dataclass
class Agent:
    agent_id: str
    hostname: str
    ip: str
    site: str
    total: Resources
    available: Resources
    attributes: list[dict[str, Any]]
    region: str | None
    zone: str | None
    networks: dict[str, str]
    runner: TaskRunner
    private: bool = False
    lost: bool = False
    recovering: bool = False        # not yet re-registered with a new leader (failover.py)
    partitioned: bool = False       # cut off from the master (partition.py)
    unreachable: bool = False       # marked unreachable by the master (partition.py)
    tasks: set[tuple[str, str]] = field(default_factory=set)   # (framework_id, task_id)
    offers: set[str] = field(default_factory=set)              # offer ids
    _template: dict[str, Any] | None = None

    @property
    def away(self) -> bool:
        """Nothing of it is offered: lost, recovering, partitioned or unreachable."""
        return self.lost or self.recovering or self.partitioned or self.unreachable

    @property
    def info(self) -> AgentInfo:
        return AgentInfo(self.agent_id, self.hostname, self.site, dict(self.networks),
                         self.private)

    def template(self) -> dict[str, Any]:
        """The offer fields that never change (built once; shared, never mutated)."""
        if self._template is None:
            t: dict[str, Any] = {
                "agent_id": {"value": self.agent_id}, "hostname": self.hostname,
                "url": {"scheme": "http", "address": {"hostname": self.hostname, "ip": self.ip,
                                                      "port": AGENT_PORT}, "path": "/slave(1)"},
                "attributes": self.attributes,
            }
            if self.region is not None:
                domain: dict[str, Any] = {"region": {"name": self.region}}
                if self.zone is not None:
                    domain["zone"] = {"name": self.zone}
                t["domain"] = {"fault_domain": domain}
            self._template = t
        return self._template


def attributes_json(attributes: dict[str, str | float]) -> list[dict[str, Any]]:
    out = []
    for name, value in attributes.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            item = scalar(name, value)
            item.pop("role", None)
            out.append(item)
        else:
            out.append(text_attribute(name, str(value)))
    return out


@dataclass
class Offer:
    offer_id: str
    framework_id: str
    agent_id: str
    resources: Resources
    role: str

    def to_json(self, agent: Agent) -> dict[str, Any]:
        body = dict(agent.template())
        body["id"] = {"value": self.offer_id}
        body["framework_id"] = {"value": self.framework_id}
        body["resources"] = offer_resources_json(self.resources, self.role)
        body["allocation_info"] = {"role": self.role}
        return body


@dataclass
class Task:
    """A task the master knows: launched and not yet acknowledged terminal."""

    task_id: str
    framework_id: str
    agent_id: str
    resources: Resources
    info: dict[str, Any]
    state: TaskState = TaskState.STAGING          # latest state reported by the agent
    update_state: TaskState | None = None         # state of the last update forwarded
    healthy: bool | None = None
    container_status: dict[str, Any] | None = None
    #: agent-made updates waiting for an ACKNOWLEDGE; the head is the one in flight.
    pending: collections.deque = field(default_factory=collections.deque)
    head_sent_at: float | None = None             # clock seconds, None = not sent yet
    released: bool = False                        # resources given back (terminal)

    def status_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.healthy is not None:
            out["healthy"] = self.healthy
        if self.container_status is not None:
            out["container_status"] = self.container_status
        return out


@dataclass
class Framework:
    framework_id: str
    info: dict[str, Any]
    subscriber: Subscriber | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    #: tasks on unreachable agents (partition-aware frameworks): task id → agent id
    unreachable: dict[str, str] = field(default_factory=dict)
    completed: collections.deque = field(default_factory=lambda: collections.deque(maxlen=1000))
    offers: dict[str, Offer] = field(default_factory=dict)
    offered_agents: set[str] = field(default_factory=set)
    filters: dict[str, float] = field(default_factory=dict)   # agent id → until (clock s)
    suppressed: set[str] = field(default_factory=set)
    acked: collections.OrderedDict = field(default_factory=collections.OrderedDict)
    failover_timer: Any = None
    disconnected_at: float | None = None
    allocated_cpus: float = 0.0

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c.get("type", "") for c in self.info.get("capabilities") or [])

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def region_aware(self) -> bool:
        return "REGION_AWARE" in self.capabilities

    @property
    def roles(self) -> list[str]:
        if "MULTI_ROLE" in self.capabilities:
            return list(self.info.get("roles") or [])
        return [self.info.get("role") or "*"]

    @property
    def connected(self) -> bool:
        return self.subscriber is not None

    @property
    def failover_timeout_s(self) -> float:
        return float(self.info.get("failover_timeout") or 0.0)

    def offer_role(self) -> str | None:
        """The role the next offer is allocated to (first unsuppressed), or None."""
        for role in self.roles:
            if role not in self.suppressed:
                return role
        return None

    def remember_ack(self, key: tuple[str, bytes], limit: int = 100_000) -> None:
        """Remember an acknowledged (task id, uuid) so that a duplicate ACK is harmless."""
        self.acked[key] = None
        while len(self.acked) > limit:
            self.acked.popitem(last=False)
