"""Render the condor_config each role's container uses.

The output is plain HTCondor configuration (parsed with HTCondor's own parser in the
tests). It never contains a secret: keys and tokens are files the container installs
into SEC_PASSWORD_DIRECTORY / SEC_TOKEN_SYSTEM_DIRECTORY at start.
"""
from __future__ import annotations

import ipaddress
import re

from .. import __version__
from ..errors import ConfigRenderError
from ..model import SHARED_PORT, Role
from ..spec import ClusterSpec, SiteSpec
from .brokers import DEFAULT_COLLECTOR_FDS, BrokerPlan, all_registrations, plan_brokers
from .worker import OPERATOR_REASON as OPERATOR_DRAIN_REASON

#: Environment variables the framework sets in every role container (none secret).
ENV_MASTER_ADDRESS = "HTCMESOS_MASTER_ADDRESS"
#: HTCondor identities (``<name>@<trust domain>``): the central manager's own daemons,
#: and the tokens minted for the other roles.
CM_IDENTITY = "condor"
#: The framework's own identity: it drains executors (framework/condor/tokens.py).
FRAMEWORK_IDENTITY = "htcmesos"
IDENTITIES = {Role.MASTER: CM_IDENTITY, Role.SUBMITTER: "submitter", Role.EXECUTOR: "executor",
              Role.BROKER: CM_IDENTITY}
ENV_TASK_ID = "HTCMESOS_TASK_ID"
PASSWORD_DIR = "/etc/condor/passwords.d"
TOKEN_DIR = "/etc/condor/tokens.d"
#: Startd/master attributes that tie an HTCondor daemon to its Mesos task and site.
ATTR_POOL, ATTR_SITE, ATTR_TASK = "HTCMESOS_POOL", "HTCMESOS_SITE", "HTCMESOS_TASK_ID"
#: The negotiator fills one partitionable slot with as many jobs of a request as fit before
#: it matches that request elsewhere (HTCondor's default: False). With HTCondor's default
#: NEGOTIATOR_PRE_JOB_RANK (``... - (100000 * Cpus) - Memory``: the slot with the fewest
#: free cores first) new jobs pile onto the busiest executors and the others empty out, so
#: the planner can drain them. src/condor_negotiator.V6/matchmaker.cpp (negotiate(): after
#: a match, ``schedd_will_match = jobsInSlot(request, *offer)``; the schedd puts that many
#: jobs of the autocluster into the slot's leftovers, CLAIM_PARTITIONABLE_LEFTOVERS).
#: The simulated pool (framework/sim/pool/negotiator.py) models both.
NEGOTIATOR_DEPTH_FIRST = True
#: How long jobs under the operator's drain may run on (s): 7 days. Measured on HTCondor
#: 23.9 daemons: the startd puts the drain's reason in every slot ad (``DrainReason``,
#: with ``Draining``) and evaluates MAXJOBRETIREMENTTIME there, so a job under the
#: operator's drain retires; a cancelled drain takes both away again (retirement 0).
OPERATOR_RETIREMENT_S = 7 * 86400

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*")


def check_address(address: str) -> str:
    """Return ``address`` if it is an IP address or host name, else raise."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(address or ""):
        raise ConfigRenderError(f"master address {address!r} is neither an IP address "
                                f"nor a host name")
    return address


def ccb_registrations(spec: ClusterSpec) -> int:
    """Most CCB registrations the collector can hold when it is the pool's only broker.

    One per condor_master, startd, schedd and running job behind CCB: every executor
    brings a master, a startd and up to ``jobs_per_executor`` jobs; the submitter a
    master and a schedd (framework/condor/brokers.py plans more brokers above a limit).
    """
    return all_registrations(spec)


def collector_file_descriptors(spec: ClusterSpec) -> int:
    """The central collector's file descriptors (framework/condor/brokers.py): 2 × its CCB
    registrations (plus every executor's update connections when brokers share the CCB
    work), never below HTCondor's default."""
    return plan_brokers(spec).collector_file_descriptors


def render_config(spec: ClusterSpec, role: Role | str, site: str | None = None,
                  master_address: str | None = None,
                  size: tuple[float, float] | None = None, *,
                  broker: int | None = None, plan: BrokerPlan | None = None) -> str:
    """The complete condor_config text for ``role`` (at ``site`` for executors).

    ``master_address`` overrides the spec's fixed central-manager address; ``size``
    (cpus, memory MiB): an executor sized to jobs of that size
    (``autoscaling.executor_size: jobs``), which takes no other job. ``broker``: for
    ``Role.BROKER`` which one (1 … n-1, required); for a private site's executor the
    broker it registers with (None: its site's broker in Marathon mode, see
    :func:`~framework.condor.brokers.plan_brokers`). ``plan``: the spec's broker plan
    (computed when not given)."""
    role = Role(role)
    plan = plan or plan_brokers(spec)
    site_spec = _site(spec, role, site)
    lines = _header(spec, role, site_spec)
    if role is Role.BROKER:
        if broker is None or broker < 1:
            raise ConfigRenderError(
                f"the broker config is per broker: give one of 1 … {plan.count - 1}"
                if plan.count > 1 else "this pool plans one broker, the central manager: "
                                       "no broker task to configure")
        address = plan.broker(broker).address
        site_spec = site_spec or spec.master_site
        # a collector of its own, as the central manager's (COLLECTOR_HOST left at its
        # default); its daemons hold the pool key like the central manager's
        lines += _common(spec, Role.MASTER, address)
        lines += _security(spec, Role.MASTER)
        lines += _broker(spec, plan, broker)
    else:
        lines += _common(spec, role, check_address(master_address or spec.master_address))
        lines += _security(spec, role)
        if role is Role.EXECUTOR:
            lines += _executor(spec, site_spec, size, _ccb_address(spec, plan, site_spec,
                                                                  broker))
        elif role is Role.MASTER:
            lines += _master(spec, site_spec, plan)
        else:
            lines += _ROLE_PARTS[role](spec, site_spec)
    lines += _nat(site_spec or (spec.master_site if role is Role.MASTER else None))
    extra = spec.roles[role].condor_config
    if extra:
        lines += ["", "# --- extra configuration from the spec (roles.%s.condor_config)" % role]
        lines += [f"{knob} = {value}" for knob, value in extra]
    return "\n".join(lines) + "\n"


def collector_address(master_address: str) -> str:
    """``<addr>:9618?sock=collector``, IPv6 literals in brackets."""
    host = f"[{master_address}]" if ":" in master_address else master_address
    return f"{host}:{SHARED_PORT}?sock=collector"


def _site(spec: ClusterSpec, role: Role, site: str | None) -> SiteSpec | None:
    names = ", ".join(s.name for s in spec.sites)
    if site is None:
        if role is Role.EXECUTOR:
            raise ConfigRenderError(f"the executor config is per site: give a site ({names})")
        return None
    try:
        return spec.site(site)
    except KeyError:
        raise ConfigRenderError(f"unknown site {site!r}; the spec has: {names}") from None


def _header(spec: ClusterSpec, role: Role, site: SiteSpec | None) -> list[str]:
    where = f", site {site.name}" + (" (private)" if site.private else "") if site else ""
    return [f"# htcmesos {__version__}: HTCondor configuration of the {role} role",
            f"# pool {spec.pool.name}{where}; generated, re-render with "
            f"`htcmesos render-config` instead of editing."]


def _common(spec: ClusterSpec, role: Role, host: str) -> list[str]:
    update = _seconds(spec.pool.update_interval_s)
    discovery = spec.network.discovery.type
    if spec.master_dynamic and role is Role.MASTER:
        lines = ["",
                 "# --- central manager: this container, at whatever address its network",
                 "# gave it (roles.master.address: dynamic); the framework publishes it",
                 f"# ({discovery}) and the other roles follow",
                 "CONDOR_HOST = $(IP_ADDRESS)"]
    elif spec.master_dynamic:
        lines = ["",
                 f"# --- central manager: found through discovery ({discovery}); the",
                 "# container's follower writes the published address into",
                 "# 60-htcmesos-discovery.conf (read after this file) before the daemons",
                 "# start, and again, with condor_reconfig, whenever the master moves",
                 f"CONDOR_HOST = {host}"]
    else:
        lines = ["",
                 "# --- central manager: a fixed address in a public site's Calico pool, so a",
                 "# replaced master is found again without restarting anyone",
                 f"CONDOR_HOST = {host}"]
        if discovery != "none" and role is not Role.MASTER:
            lines += [f"# (also published through {discovery}: should it move, the follower's",
                      "# 60-htcmesos-discovery.conf overrides CONDOR_HOST and COLLECTOR_HOST)"]
    if role is Role.MASTER:
        lines += ["# COLLECTOR_HOST stays at its default, $(CONDOR_HOST): on the central",
                  "# manager a port or ?sock= in it makes the collector bind that port itself,",
                  "# and the shared port daemon then moves off 9618."]
    else:
        lines += [f"COLLECTOR_HOST = {collector_address(host)}"]
    return lines + [
        "USE_SHARED_PORT = True",
        f"SHARED_PORT_PORT = {SHARED_PORT}",
        "",
        f"# --- an elastic pool: ads every {update} s (HTCondor's default: 300 s)",
        f"UPDATE_INTERVAL = {update}",
        f"MASTER_UPDATE_INTERVAL = {update}",
        "",
        "# --- which pool and Mesos task this daemon belongs to",
        f'{ATTR_POOL} = "{spec.pool.name}"',
        f'{ATTR_TASK} = "$ENV({ENV_TASK_ID})"',
        f"MASTER_ATTRS = $(MASTER_ATTRS) {ATTR_POOL} {ATTR_TASK}",
    ]


def _security(spec: ClusterSpec, role: Role) -> list[str]:
    """IDTOKENS only; each role's identity gets exactly the access it needs (see tokens)."""
    lines = [
        "",
        "# --- security: IDTOKENS. Only the central manager holds the pool signing key",
        "# (installed from a fetched file); the submitter and executors hold tokens minted",
        "# for their role, with the narrowest authorizations (framework/condor/tokens.py).",
        "use SECURITY : recommended_v9_0",
        f"TRUST_DOMAIN = {spec.pool.trust_domain}",
        "UID_DOMAIN = $(TRUST_DOMAIN)",
        "SEC_DEFAULT_AUTHENTICATION_METHODS = FS, IDTOKENS",
        "SEC_CLIENT_AUTHENTICATION_METHODS = FS, IDTOKENS",
        f"SEC_PASSWORD_DIRECTORY = {PASSWORD_DIR}",
        f"SEC_TOKEN_SYSTEM_DIRECTORY = {TOKEN_DIR}",
        "# no token requests: a daemon without a valid token stays out (nobody approves)",
        "SEC_ENABLE_TOKEN_REQUEST = False",
        "# the central manager's daemons (tokens they make from the key) and local root",
        f"ALLOW_DAEMON = {CM_IDENTITY}@$(TRUST_DOMAIN)",
        "ALLOW_NEGOTIATOR = $(ALLOW_DAEMON)",
        "ALLOW_ADMINISTRATOR = $(ALLOW_DAEMON) root@$(UID_DOMAIN)",
        "ALLOW_CONFIG =",
        "# daemons of this trust domain and authenticated pool users; never '*'",
        "ALLOW_WRITE = $(ALLOW_DAEMON) *@$(UID_DOMAIN)",
    ]
    if role is Role.EXECUTOR:
        lines += [
            "# the framework drains executors (its token is signed with a key executors hold,",
            "# derived from the pool key; the pool key itself stays on the central manager)",
            f"ALLOW_ADMINISTRATOR = $(ALLOW_DAEMON) root@$(UID_DOMAIN) "
            f"{FRAMEWORK_IDENTITY}@$(TRUST_DOMAIN)",
        ]
    if role is Role.MASTER:
        lines += [
            "# who may advertise what to the collector: one identity per role",
            f"ALLOW_ADVERTISE_STARTD = {IDENTITIES[Role.EXECUTOR]}@$(TRUST_DOMAIN)",
            f"ALLOW_ADVERTISE_SCHEDD = {IDENTITIES[Role.SUBMITTER]}@$(TRUST_DOMAIN)",
            "ALLOW_ADVERTISE_MASTER = $(ALLOW_ADVERTISE_STARTD) $(ALLOW_ADVERTISE_SCHEDD) "
            "$(ALLOW_DAEMON)",
        ]
    return lines


def _seconds(value: float) -> int:
    return max(1, int(round(value)))


def _master(spec: ClusterSpec, site: SiteSpec | None, plan: BrokerPlan | None = None) -> list[str]:
    plan = plan or plan_brokers(spec)
    regs = plan.brokers[0].registrations
    fds = plan.collector_file_descriptors
    jobs = spec.roles[Role.EXECUTOR].jobs_per_executor
    neg = _seconds(spec.pool.negotiator_interval_s)
    update = _seconds(spec.pool.update_interval_s)
    return [
        "",
        "# --- central manager: collector + negotiator, also the pool's CCB server",
        "use ROLE : CentralManager",
        f"# negotiation every {neg} s (HTCondor: 60 s, with a compiled-in 20 s cycle delay)",
        f"NEGOTIATOR_INTERVAL = {neg}",
        f"NEGOTIATOR_MIN_INTERVAL = {neg}",
        f"NEGOTIATOR_CYCLE_DELAY = {neg}",
        f"NEGOTIATOR_UPDATE_INTERVAL = {update}",
        "# fill the busiest executors first (with the default NEGOTIATOR_PRE_JOB_RANK, fewest",
        "# free cores first), so idle executors empty out and can be drained",
        f"NEGOTIATOR_DEPTH_FIRST = {NEGOTIATOR_DEPTH_FIRST}",
        f"COLLECTOR_UPDATE_INTERVAL = {update}",
        "# ads not renewed for 3 update intervals go: a startd that vanished with its",
        "# container (agent lost) is not matched again and again (HTCondor keeps 900 s)",
        f"CLASSAD_LIFETIME = {max(3 * update, 20)}",
        "ENABLE_CCB_SERVER = True",
        "CCB_HEARTBEAT_INTERVAL = 300",
    ] + (_sizing_single(spec, regs, fds, jobs) if plan.count == 1 else
         _sizing_shared(spec, plan, jobs)) + [
        f"COLLECTOR_MAX_FILE_DESCRIPTORS = {fds}",
        f"COLLECTOR_ATTRS = $(COLLECTOR_ATTRS) {ATTR_POOL}",
    ]


def _sizing_single(spec: ClusterSpec, regs: int, fds: int, jobs: int) -> list[str]:
    return [f"# CCB registrations at most: {spec.executors_max} executors × (1 master + 1 startd"
            f" + {jobs} jobs) + 2 (submitter) = {regs}",
            f"# collector file descriptors = max(2 × {regs}, HTCondor's default "
            f"{DEFAULT_COLLECTOR_FDS}) = {fds}"]


def _sizing_shared(spec: ClusterSpec, plan: BrokerPlan, jobs: int) -> list[str]:
    b0 = plan.brokers[0]
    return [f"# one of {plan.count} CCB servers (framework/condor/brokers.py): at most "
            f"{b0.registrations} registrations here",
            f"# ({plan.registrations - 2} of the private sites' executors, each 1 master + 1 "
            f"startd + {jobs} jobs, shared out, + 2 submitter)",
            f"# collector file descriptors = max(2 × {b0.registrations} + 3 × "
            f"{spec.executors_max} executors' updates, {DEFAULT_COLLECTOR_FDS}) = "
            f"{b0.file_descriptors}"]


def _broker(spec: ClusterSpec, plan: BrokerPlan, index: int) -> list[str]:
    """A collector-only daemon set: a CCB server for its share of the private executors."""
    b = plan.broker(index)
    update = _seconds(spec.pool.update_interval_s)
    return [
        "",
        f"# --- connection broker {index} of {plan.count - 1} extra (framework/condor/brokers.py):",
        "# a collector only (no negotiator), the CCB server of the private sites' executors",
        "# the framework assigns to it",
        "DAEMON_LIST = MASTER COLLECTOR",
        f'COLLECTOR_NAME = "{spec.pool.name} broker {index}"',
        f"COLLECTOR_UPDATE_INTERVAL = {update}",
        f"CLASSAD_LIFETIME = {max(3 * update, 20)}",
        "ENABLE_CCB_SERVER = True",
        "CCB_HEARTBEAT_INTERVAL = 300",
        f"# CCB registrations at most: {b.registrations} (its share); file descriptors = "
        f"max(2 × {b.registrations}, {DEFAULT_COLLECTOR_FDS}) = {b.file_descriptors}",
        f"COLLECTOR_MAX_FILE_DESCRIPTORS = {b.file_descriptors}",
        f"COLLECTOR_ATTRS = $(COLLECTOR_ATTRS) {ATTR_POOL}",
    ]


def _ccb_address(spec: ClusterSpec, plan: BrokerPlan, site: SiteSpec | None,
                 broker: int | None) -> str | None:
    """The ``CCB_ADDRESS`` of a private site's executor (None: the central manager's)."""
    if site is None or not site.private or plan.count == 1:
        return None
    index = broker if broker is not None else plan.site(site.name).marathon_broker
    if not index:
        return None
    return collector_address(plan.broker(index).address)


def _nat(site: SiteSpec | None) -> list[str]:
    if site is None or not site.nat_address:
        return []
    return ["",
            f"# --- site {site.name} is reached through a NAT at {site.nat_address}: advertise",
            "# it as the public address (same ports forwarded); peers see the NAT's address",
            f"TCP_FORWARDING_HOST = {site.nat_address}"]


def _submitter(spec: ClusterSpec, site: SiteSpec | None) -> list[str]:
    return [
        "",
        "# --- submit node: schedd",
        "use ROLE : Submit",
        f"SCHEDD_ATTRS = $(SCHEDD_ATTRS) {ATTR_POOL} {ATTR_TASK}",
        f"SCHEDD_INTERVAL = {_seconds(spec.pool.update_interval_s)}",
        f"# a job whose executor vanished is requeued after {_seconds(spec.pool.job_lease_s)} s",
        f"JOB_DEFAULT_LEASE_DURATION = {_seconds(spec.pool.job_lease_s)}",
        "# notice a vanished executor (agent lost, no TCP reset) in minutes, not the 12",
        "# that HTCondor's 360 s keepalive takes; the lease above runs from then",
        "TCP_KEEPALIVE_INTERVAL = 60",
    ]


def _executor(spec: ClusterSpec, site: SiteSpec | None,
              size: tuple[float, float] | None = None, ccb: str | None = None) -> list[str]:
    assert site is not None
    r = spec.roles[Role.EXECUTOR]
    task_cpus, task_mem = size or (r.cpus, r.mem_mb)
    cpus = max(1, int(task_cpus))
    vacate = max(1, int(r.kill_grace_period_s * 2 / 3))
    lines = [
        "",
        f"# --- execute node: one partitionable slot sized to the task "
        f"({task_cpus:g} cores, {task_mem:g} MiB memory, {r.disk_mb:g} MiB disk)",
        "use ROLE : Execute",
        f"NUM_CPUS = {cpus}",
        f"MEMORY = {int(task_mem)}",
        f"DISK = {int(r.disk_mb * 1024)}",
        "use FEATURE : PartitionableSlot(1, 100%)",
        f'{ATTR_SITE} = "{site.name}"',
        f"STARTD_ATTRS = $(STARTD_ATTRS) {ATTR_POOL} {ATTR_SITE} {ATTR_TASK}",
        "# jobs run as the slot user: role containers share no user accounts",
        "STARTER_ALLOW_RUNAS_OWNER = False",
        f"# a Mesos kill gives {r.kill_grace_period_s:g} s (SIGTERM = graceful shutdown): vacate",
        "# running jobs within it, so they are requeued and run elsewhere, never lost",
        f"MACHINE_MAX_VACATE_TIME = {vacate}",
        "# ... except under the operator's drain (its reason, worker.OPERATOR_REASON): its",
        f"# jobs retire, up to {OPERATOR_RETIREMENT_S // 86400} days; the task is removed once "
        "they have ended",
        f"MAXJOBRETIREMENTTIME = ifThenElse(MY.Draining =?= true && "
        f'MY.DrainReason =?= "{OPERATOR_DRAIN_REASON}", {OPERATOR_RETIREMENT_S}, 0)',
        "",
    ]
    if size is not None:
        # planner/packing.py job_size (whole cores, memory rounded up to 256 MiB) and takes
        lines += [
            "# sized to one job (autoscaling.executor_size: jobs): it takes only jobs of its",
            "# size, so no cores stand idle beside a running job; smaller jobs get their own",
            f"START = ($(START)) && TARGET.RequestCpus > {cpus - 1} && "
            f"TARGET.RequestCpus <= {cpus} && TARGET.RequestMemory > {int(task_mem) - 256} && "
            f"TARGET.RequestMemory <= {int(task_mem)}",
        ]
    if site.private:
        lines += [
            f"# site {site.name} takes no inbound connections: register with the master's CCB;",
            "# peers with the same private network name connect directly.",
            "CCB_ADDRESS = $(COLLECTOR_HOST)",
            f"PRIVATE_NETWORK_NAME = {site.name}",
        ] + (_follow_ccb() if spec.network.discovery.type != "none" else []) if ccb is None \
            else [
            f"# site {site.name} takes no inbound connections: register with this executor's",
            "# connection broker (framework/condor/brokers.py); peers with the same private",
            "# network name connect directly.",
            f"CCB_ADDRESS = {ccb}",
            f"PRIVATE_NETWORK_NAME = {site.name}",
        ]
    else:
        lines += [f"# site {site.name} is reachable: no CCB", "CCB_ADDRESS ="]
    return lines


def _follow_ccb() -> list[str]:
    """A private executor's startd, when the central manager (its broker) can move."""
    return [
        "# the central manager can move (discovery): the startd registers with CCB itself, and",
        "# its registration follows CCB_ADDRESS on reconfig. Through the shared port server",
        "# its advertised contact would name the old broker for 300-360 s after a move",
        "# (src/condor_utils/shared_port_endpoint.cpp, RetryInitRemoteAddress)",
        "STARTD.USE_SHARED_PORT = False",
    ]


_ROLE_PARTS = {Role.MASTER: _master, Role.SUBMITTER: _submitter, Role.EXECUTOR: _executor}
