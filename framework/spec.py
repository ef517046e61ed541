"""The cluster spec: typed, validated once at load, then passed explicitly.

Units: cpus in cores, ``mem`` and ``disk`` in MiB, every duration in seconds.
File references (signing key, Mesos secret) are paths relative to the spec file;
secret values are never read here.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpecError
from .model import Role
from .specchecks import Checker
from .yamlpos import load_yaml


@dataclass(frozen=True)
class PoolSpec:
    name: str
    trust_domain: str
    signing_key_file: Path  # the POOL signing key / pool password, a file (never inline)
    #: seconds between negotiation cycles (HTCondor's default is 60, plus a 20 s cycle delay)
    negotiator_interval_s: float = 10
    #: seconds between the daemons' ads to the collector (HTCondor's default is 300)
    update_interval_s: float = 30
    #: seconds a job whose executor vanished stays "running" before it is requeued
    job_lease_s: float = 600


@dataclass(frozen=True)
class AgentMatch:
    """How a site's Mesos agents are recognised: an attribute, or a fault domain."""

    attribute: tuple[str, str] | None = None  # (name, value), e.g. ("site", "alpha")
    region: str | None = None
    zone: str | None = None

    def describe(self) -> str:
        if self.attribute:
            return f"attribute {self.attribute[0]}:{self.attribute[1]}"
        return f"region {self.region}" + (f" zone {self.zone}" if self.zone else "")


@dataclass(frozen=True)
class SiteSpec:
    name: str
    agents: AgentMatch
    private: bool            # no inbound connections: executors register through CCB
    calico_network: str
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    executors_min: int
    executors_max: int
    #: Calico IPPool of the site: "ipip" or "vxlan" (CrossSubnet: encapsulated only
    #: between subnets) or "none"; NAT for traffic leaving the pool; block size (None:
    #: chosen by framework/calico from the site's executor maximum)
    encapsulation: str = "ipip"
    nat_outgoing: bool = True
    block_size: int | None = None
    #: the public address of a NAT that forwards to this site's daemons (HTCondor's
    #: TCP_FORWARDING_HOST); None: no such NAT
    nat_address: str | None = None


@dataclass(frozen=True)
class Volume:
    container_path: str
    host_path: str
    mode: str  # "RO" | "RW"


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/health"
    port: int = 5000
    grace_period_s: float = 300
    interval_s: float = 30
    timeout_s: float = 10
    consecutive_failures: int = 3


#: ``roles.master.address: dynamic`` (see :attr:`ClusterSpec.master_dynamic`)
DYNAMIC_ADDRESS = "dynamic"
#: what the rendered configs say while only discovery knows the master's address (the
#: ``.invalid`` top-level name never resolves, RFC 6761)
DYNAMIC_MASTER_HOST = "central-manager.invalid"


@dataclass(frozen=True)
class RoleSpec:
    role: Role
    image: str
    cpus: float
    mem_mb: float
    disk_mb: float
    condor_config: tuple[tuple[str, str], ...] = ()
    volumes: tuple[Volume, ...] = ()
    docker_parameters: tuple[tuple[str, str], ...] = ()
    health_check: HealthCheck = field(default_factory=HealthCheck)
    kill_grace_period_s: float = 30
    jobs_per_executor: int = 1  # most jobs one executor runs at once (executor role)
    #: master only: the central manager's fixed IP in a public site's Calico pool (None:
    #: derived, see :attr:`ClusterSpec.master_address`; ``"dynamic"``: any address the
    #: network's IPAM gives, found through discovery, docs/discovery.md)
    address: str | None = None


@dataclass(frozen=True)
class AutoscalingSpec:
    enabled: bool = True       # the queue drives the pool (False: executors.min per site)
    min_executors: int = 0
    max_executors: int = 10
    #: executors start in seconds here (CLUES' IDLE_TIME of 1800 s suits machines that boot in
    #: minutes): a minute idle, then drained; released well within 120 s of the queue draining
    idle_before_scale_in_s: float = 60
    max_launches_per_tick: int = 10
    scale_up_cooldown_s: float = 30
    scale_down_cooldown_s: float = 120
    tick_s: float = 10
    #: CLUES-style hook executables (<folder>/<EVENT>), or None
    hooks_folder: Path | None = None
    hooks_timeout_s: float = 180
    #: who decides the pool's size: "htcmesos" (the planner) or "clues" (CLUES powers
    #: virtual nodes on and off through ``htcmesos poweron`` / ``poweroff``)
    driver: str = "htcmesos"
    #: how big a new executor is: "slot" (the executor role's cpus and mem) or "jobs"
    #: (one per idle job, sized to it: whole cores, memory rounded up to 256 MiB; the role's
    #: size is the largest); "jobs" leaves no cores idle beside a job that runs on
    executor_size: str = "slot"


@dataclass(frozen=True)
class ApiSpec:
    """The framework's web app: dashboard, REST API, metrics, CLUES' view (docs/operators.md)."""

    #: HOST:PORT it listens on ("" : none); loopback by default
    listen: str = "127.0.0.1:8642"
    #: the bearer tokens (lines ``TOKEN`` or ``NAME TOKEN``): changes through the REST API
    #: need one, and with one every CLUES request does (None: no changes at all)
    token_file: Path | None = None

    @property
    def url(self) -> str:
        """The URL a client on this host reaches the API at."""
        host, _, port = self.listen.rpartition(":")
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class MesosBackendSpec:
    master: str  # zk://h1:2181,h2:2181/mesos or http(s)://host:5050[,http://…]
    framework_name: str = "htcmesos"
    role: str = "*"
    principal: str | None = None
    secret_file: Path | None = None
    failover_timeout_s: float = 7 * 24 * 3600
    user: str = "root"
    #: where the framework id and task ids survive restarts: zk://hosts/path or a file
    state: str = ""
    #: where the framework serves the role containers' keys and tokens to the Mesos fetcher
    credential_listen: str = "0.0.0.0:0"
    #: the URL agents reach it at (None: http(s)://<this host's name>:<bound port>)
    credential_url: str | None = None
    #: (certificate, private key) files: serve over https (agents verify it with their CAs)
    credential_tls: tuple[Path, Path] | None = None
    #: replace a master / submitter whose agent is unreachable after this long (None:
    #: never, the default: it may still run behind the partition, the master holding the
    #: pool's fixed address and the submitter its queue; docs/failover.md)
    replace_unreachable_master_s: float | None = None
    replace_unreachable_submitter_s: float | None = None


@dataclass(frozen=True)
class MarathonBackendSpec:
    url: str
    group: str = "/htcondor"
    credentials_file: Path | None = None
    #: where the roles' credentials sit in Marathon's secret store (``<prefix>/<role>``);
    #: the rendered apps only reference them. Default ``htcondor/<pool name>``
    secrets_prefix: str = ""


@dataclass(frozen=True)
class SimBackendSpec:
    seed: int = 1
    agents_per_site: int = 3


@dataclass(frozen=True)
class BackendSpec:
    type: str  # "mesos" | "marathon" | "sim"
    mesos: MesosBackendSpec | None = None
    marathon: MarathonBackendSpec | None = None
    sim: SimBackendSpec = field(default_factory=SimBackendSpec)


@dataclass(frozen=True)
class BrokerSpec:
    """HTCondor connection brokers (CCB servers) for the private sites' executors."""

    #: how many CCB servers (None: planned from the registrations, framework/condor/brokers)
    count: int | None = None
    #: most CCB registrations one broker takes (HTCondor: "a few thousand slots" per server)
    registrations_per_broker: int = 5000


@dataclass(frozen=True)
class DiscoverySpec:
    """Where the central manager's address is published when it changes."""

    type: str = "none"            # "zookeeper" | "consul" | "none"
    #: zookeeper: zk://host:2181[,host:2181]/path (the znode); consul: http(s)://host:8500
    url: str = ""
    #: consul: the service name (executors may resolve <service>.service.consul)
    service: str = ""


@dataclass(frozen=True)
class NetworkSpec:
    """The pool's network beyond the sites' pools: who may connect, brokers, discovery."""

    #: CIDRs of clients allowed to the master's and submitter's shared port (Calico policy)
    client_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: open ssh (22) on the submitter to the client CIDRs
    submitter_ssh: bool = False
    brokers: BrokerSpec = BrokerSpec()
    discovery: DiscoverySpec = DiscoverySpec()


@dataclass(frozen=True)
class ClusterSpec:
    pool: PoolSpec
    sites: tuple[SiteSpec, ...]
    roles: dict[Role, RoleSpec]
    autoscaling: AutoscalingSpec
    backend: BackendSpec
    source: str | None = None
    api: ApiSpec = ApiSpec()
    network: NetworkSpec = NetworkSpec()

    def site(self, name: str) -> SiteSpec:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    @property
    def master_dynamic(self) -> bool:
        """``roles.master.address: dynamic``: the master takes any address; the daemons
        learn it through discovery (``network.discovery``)."""
        return self.roles[Role.MASTER].address == DYNAMIC_ADDRESS

    @property
    def master_address(self) -> str:
        """The central manager's fixed IP: ``roles.master.address``, else the second host
        address of the first public site's Calico pool (the first is often a gateway).
        With a dynamic address: :data:`DYNAMIC_MASTER_HOST`, a name that never resolves,
        which the role containers replace with the published address before they start."""
        explicit = self.roles[Role.MASTER].address
        if explicit == DYNAMIC_ADDRESS:
            return DYNAMIC_MASTER_HOST
        if explicit:
            return explicit
        return str(self.master_site.cidr.network_address + 2)

    @property
    def master_site(self) -> SiteSpec:
        """The site whose Calico pool holds the master's address (a public one)."""
        explicit = self.roles[Role.MASTER].address
        if explicit and explicit != DYNAMIC_ADDRESS:
            ip = ipaddress.ip_address(explicit)
            return next(s for s in self.sites if ip in s.cidr)
        return next((s for s in self.sites if not s.private), self.sites[0])

    @property
    def executors_max(self) -> int:
        """Most executors the pool can ever have (sites' maxima, capped by the policy)."""
        return min(sum(s.executors_max for s in self.sites), self.autoscaling.max_executors)


def parse_spec(text: str, source: str | None = None, base_dir: Path | None = None) -> ClusterSpec:
    """Validate spec text; raise :class:`SpecError` listing every problem."""
    from .specbuild import build_spec  # the validation rules live there

    loaded = load_yaml(text)
    checker = Checker(loaded)
    spec = build_spec(loaded.data, checker, base_dir or Path.cwd(), source)
    if checker.problems:
        problems = sorted(checker.problems, key=lambda p: (p.line or 0, p.path))
        raise SpecError(problems, source)
    assert spec is not None
    return spec


def load_spec(path: str | Path) -> ClusterSpec:
    """Read and validate the spec file at ``path``."""
    from .errors import SpecProblem

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError([SpecProblem("", None, f"cannot read spec: {exc.strerror or exc}")],
                        str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise SpecError([SpecProblem("", line, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} "
                                               f"at column {column}; save the spec as UTF-8")],
                        str(path)) from None
    return parse_spec(text, str(path), path.resolve().parent)
