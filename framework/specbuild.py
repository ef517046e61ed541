"""Validation rules of the cluster spec: YAML data → typed :class:`ClusterSpec`."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from .model import IMAGE_ROLES, Role
from .spec import (DYNAMIC_ADDRESS, AgentMatch, ApiSpec, AutoscalingSpec, ClusterSpec,
                   HealthCheck, PoolSpec, RoleSpec, SiteSpec, Volume)
from .specbackend import LISTEN, backend_spec
from .specchecks import Checker, spec_file as _file
from .specnetwork import network_spec

NAME = r"[a-z][a-z0-9-]{0,62}"
NAME_DESC = "lower-case letters, digits and '-', starting with a letter"
DOMAIN = r"[A-Za-z0-9][A-Za-z0-9.-]*"
KNOB = r"[A-Za-z_][A-Za-z0-9_.]*"
IMAGE = r"[^\s]+"
#: Knobs htcmesos sets itself from the spec; extra config must not override them.
OWNED_KNOBS = {"TRUST_DOMAIN", "UID_DOMAIN", "CONDOR_HOST", "COLLECTOR_HOST", "CCB_ADDRESS",
               "PRIVATE_NETWORK_NAME", "NUM_CPUS", "MEMORY", "SEC_PASSWORD_DIRECTORY",
               "SEC_TOKEN_SYSTEM_DIRECTORY", "HTCMESOS_SITE", "HTCMESOS_TASK_ID"}
ROLE_KEYS = ["image", "cpus", "mem", "disk", "condor_config", "volumes", "docker_parameters",
             "health_check", "kill_grace_period"]
#: Keys only one role has.
ROLE_ONLY_KEYS = {Role.MASTER: ["address"], Role.EXECUTOR: ["jobs_per_executor"],
                  Role.SUBMITTER: [], Role.BROKER: []}
#: A broker's resources unless ``roles.broker`` says (framework/condor/brokers.py)
BROKER_CPUS, BROKER_MEM_MB = 0.5, 512


def build_spec(data: Any, c: Checker, base_dir: Path, source: str | None) -> ClusterSpec | None:
    if c.problems:  # YAML syntax: nothing further can be trusted
        return None
    if data is None:
        c.problem((), "the spec is empty; `htcmesos init` writes a commented example")
        return None
    if not isinstance(data, dict):
        c.problem((), "must be a mapping with keys pool, sites, roles, backend (and autoscaling)")
        return None
    top = c.mapping(data, (), ["pool", "sites", "roles", "autoscaling", "backend", "api",
                               "network"],
                    required=["pool", "sites", "roles", "backend"])
    # A missing block is reported once above, not again key by key.
    pool = _pool(top["pool"], c, base_dir) if "pool" in top else None
    sites = _sites(top["sites"], c) if "sites" in top else []
    roles = _roles(top["roles"], c) if "roles" in top else {}
    autoscaling = _autoscaling(top.get("autoscaling"), c, sites, base_dir)
    backend = backend_spec(top["backend"], c, base_dir, pool.name if pool else "") \
        if "backend" in top else None
    if Role.MASTER in roles and sites:
        _check_master_address(roles[Role.MASTER].address, sites, c)
    api = _api(top.get("api"), c, base_dir)
    network = network_spec(top.get("network"), c, backend, pool.name if pool else "")
    if Role.MASTER in roles and roles[Role.MASTER].address == DYNAMIC_ADDRESS \
            and network.discovery.type == "none":
        c.problem(("roles", "master", "address"),
                  "a dynamic master address needs network.discovery (zookeeper or consul): "
                  "only discovery tells the daemons where the master is")
    if c.problems or pool is None or backend is None:
        return None
    spec = ClusterSpec(pool, tuple(sites), roles, autoscaling, backend, source, api, network)
    _check_brokers(spec, c)
    return spec


def _check_brokers(spec: ClusterSpec, c: Checker) -> None:
    """The planned brokers' fixed addresses fit the master's site pool."""
    from .condor.brokers import plan_brokers
    from .errors import BrokerPlanError

    try:
        plan_brokers(spec)
    except BrokerPlanError as exc:
        c.problem(("network", "brokers"), str(exc))


def _api(value: Any, c: Checker, base_dir: Path) -> ApiSpec:
    p = ("api",)
    d = c.mapping(value, p, ["listen", "token_file"])
    listen = d.get("listen", ApiSpec.listen)
    if listen != "":                              # "": no API
        listen = c.string(d, "listen", p, ApiSpec.listen, pattern=LISTEN,
                          describe="HOST:PORT, e.g. 127.0.0.1:8642; \"\" for no API")
    token = _file(c.string(d, "token_file", p, describe="a file holding the API's bearer "
                                                        "token"), base_dir) \
        if "token_file" in d else None
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if listen and port.isdigit() and int(port) > 65535:
        c.problem(p + ("listen",), f"port {port} is not a port (0 … 65535)")
    if listen and token is None and host not in ("127.0.0.1", "::1", "localhost"):
        c.problem(p + ("listen",), f"'{listen}' is reachable from other hosts: set "
                                   f"api.token_file so power requests need a token")
    return ApiSpec(listen, token)


def _pool(value: Any, c: Checker, base_dir: Path) -> PoolSpec:
    p = ("pool",)
    d = c.mapping(value, p, ["name", "trust_domain", "signing_key_file", "negotiator_interval",
                             "update_interval", "job_lease"],
                  required=["name", "trust_domain", "signing_key_file"])
    name = c.string(d, "name", p, pattern=NAME, describe=NAME_DESC)
    trust = c.string(d, "trust_domain", p, pattern=DOMAIN, describe="a DNS-like name")
    key = c.string(d, "signing_key_file", p, describe="path of the file holding the key")
    return PoolSpec(
        name, trust, _file(key, base_dir) if key else Path(),
        negotiator_interval_s=c.number(d, "negotiator_interval", p, 10, minimum=1,
                                       unit="seconds"),
        update_interval_s=c.number(d, "update_interval", p, 30, minimum=1, unit="seconds"),
        # HTCondor's condor_submit raises any JobLeaseDuration below 20 s to 20 s
        job_lease_s=c.number(d, "job_lease", p, 600, minimum=20, unit="seconds"))


def _sites(value: Any, c: Checker) -> list[SiteSpec]:
    items = c.sequence(value, ("sites",), "sites")
    if value is not None and isinstance(value, list) and not items:
        c.problem(("sites",), "needs at least one site")
    sites: list[SiteSpec] = []
    names: dict[str, int] = {}
    matches: dict[AgentMatch, int] = {}
    for i, item in enumerate(items):
        p = ("sites", i)
        d = c.mapping(item, p, ["name", "agents", "private", "calico", "executors",
                                "nat_address"],
                      required=["name", "calico"])
        name = c.string(d, "name", p, pattern=NAME, describe=NAME_DESC)
        if name in names:
            c.problem(p + ("name",), f"duplicate site name '{name}' (also sites[{names[name]}])")
        names.setdefault(name, i)
        agents = _agents(d.get("agents"), p + ("agents",), c, name)
        if agents in matches:
            c.problem(p + ("agents",), f"agents match ({agents.describe()}) is the same as "
                                       f"sites[{matches[agents]}]'s: each agent must belong "
                                       f"to one site")
        matches.setdefault(agents, i)
        private = c.boolean(d, "private", p, False)
        cal = c.mapping(d.get("calico"), p + ("calico",),
                        ["network", "cidr", "encapsulation", "nat_outgoing", "block_size"],
                        required=["network", "cidr"])
        network = c.string(cal, "network", p + ("calico",), pattern=r"[A-Za-z0-9][\w.-]*",
                           describe="a Calico/Docker network name")
        cidr = _cidr(cal, p + ("calico",), c)
        encap = c.choice(cal, "encapsulation", p + ("calico",), ["ipip", "vxlan", "none"],
                         "ipip" if cidr.version == 4 else "vxlan")
        if encap == "ipip" and cidr.version == 6:
            c.problem(p + ("calico", "encapsulation"), "Calico has no IPIP for IPv6 pools: "
                                                      "use vxlan or none")
        nat = c.boolean(cal, "nat_outgoing", p + ("calico",), True)
        block = _block_size(cal, p + ("calico",), c, cidr)
        nat_address = _address(d, "nat_address", p, c)
        ex = c.mapping(d.get("executors"), p + ("executors",), ["min", "max"])
        lo = c.integer(ex, "min", p + ("executors",), 0, minimum=0)
        hi = c.integer(ex, "max", p + ("executors",), 10, minimum=0)
        if lo > hi:
            c.problem(p + ("executors", "min"), f"min ({lo}) > max ({hi}); min must be ≤ max")
        sites.append(SiteSpec(name, agents, private, network, cidr, lo, hi, encap, nat, block,
                              nat_address))
    _check_overlaps(sites, c)
    return sites


def _agents(value: Any, p: tuple, c: Checker, site: str) -> AgentMatch:
    if value is None:
        return AgentMatch(attribute=("site", site))
    d = c.mapping(value, p, ["attribute", "region", "zone"])
    if "attribute" in d and ("region" in d or "zone" in d):
        c.problem(p, "give either 'attribute' or 'region'/'zone', not both")
    if "attribute" in d:
        text = c.string(d, "attribute", p, describe="name:value, e.g. site:alpha")
        if ":" not in text or not all(text.split(":", 1)):
            if text:
                c.problem(p + ("attribute",), f"'{text}' must be name:value, e.g. site:{site}")
            return AgentMatch(attribute=("site", site))
        name, val = text.split(":", 1)
        return AgentMatch(attribute=(name, val))
    if "zone" in d and "region" not in d:
        c.problem(p, "'zone' needs 'region'")
        return AgentMatch(attribute=("site", site))
    if "region" in d:
        region = c.string(d, "region", p)
        zone = c.string(d, "zone", p) if "zone" in d else None
        return AgentMatch(region=region, zone=zone)
    c.problem(p, "needs 'attribute' (name:value) or 'region' (and optional 'zone')")
    return AgentMatch(attribute=("site", site))


def _cidr(d: dict, p: tuple, c: Checker):
    text = d.get("cidr")
    try:
        return ipaddress.ip_network(str(text), strict=True)
    except ValueError as exc:
        if "cidr" in d:
            c.problem(p + ("cidr",), f"'{text}' is not a network in CIDR form "
                                     f"(e.g. 10.10.0.0/16): {exc}")
        return ipaddress.ip_network("0.0.0.0/32")


def _block_size(d: dict, p: tuple, c: Checker, cidr) -> int | None:
    """Calico's IPAM block size: IPv4 20–32, IPv6 116–128, never larger than the pool
    (libcalico-go validator/v3/validator.go validateIPPool)."""
    if "block_size" not in d:
        return None
    lo, hi = (20, 32) if cidr.version == 4 else (116, 128)
    size = c.integer(d, "block_size", p, minimum=lo)
    if size > hi:
        c.problem(p + ("block_size",), f"IPv{cidr.version} block size must be between {lo} "
                                       f"and {hi}; got {size}")
    elif cidr.prefixlen and size < cidr.prefixlen:
        c.problem(p + ("block_size",), f"block size /{size} is larger than the pool {cidr}: "
                                       f"give at least {cidr.prefixlen}")
    return size


def _address(d: dict, key: str, p: tuple, c: Checker) -> str | None:
    """An optional IP address at ``key``."""
    if key not in d:
        return None
    text = c.string(d, key, p, describe="an IP address")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        if text:
            c.problem(p + (key,), f"'{text}' is not an IP address")
        return None


def _check_overlaps(sites: list[SiteSpec], c: Checker) -> None:
    for i, a in enumerate(sites):
        for j in range(i):
            b = sites[j]
            if (a.cidr.version == b.cidr.version and a.cidr.prefixlen and b.cidr.prefixlen
                    and a.cidr.overlaps(b.cidr)):
                c.problem(("sites", i, "calico", "cidr"),
                          f"{a.cidr} overlaps sites[{j}] ({b.name}) {b.cidr}; "
                          f"each site needs its own IP pool")


def _check_master_address(address: str | None, sites: list[SiteSpec], c: Checker) -> None:
    """The master's fixed address must be a host address in a public site's pool."""
    where = ("roles", "master", "address")
    if address is None or address == DYNAMIC_ADDRESS:
        if all(s.private for s in sites):
            c.problem(("sites",), "every site is private: the central manager needs a public "
                                  "site (executors at private sites connect out to it)")
        elif next(s for s in sites if not s.private).cidr.num_addresses < 8:
            c.problem(where, "the first public site's pool is too small to derive the "
                             "master's address; give roles.master.address")
        return
    ip = ipaddress.ip_address(address)
    site = next((s for s in sites if ip.version == s.cidr.version and ip in s.cidr), None)
    if site is None:
        c.problem(where, f"{address} is in no site's Calico pool "
                         f"({', '.join(str(s.cidr) for s in sites)})")
    elif site.private:
        c.problem(where, f"{address} is in private site {site.name}'s pool; the central "
                         f"manager must be reachable: use a public site's pool")
    elif ip in (site.cidr.network_address, site.cidr.broadcast_address):
        c.problem(where, f"{address} is the network or broadcast address of {site.cidr}")


def _roles(value: Any, c: Checker) -> dict[Role, RoleSpec]:
    required = [r.value for r in IMAGE_ROLES]
    d = c.mapping(value, ("roles",), [r.value for r in Role], required=required)
    roles = {Role(n): _role(Role(n), d[n], c) for n in [r.value for r in Role] if n in d}
    if Role.BROKER not in roles and Role.MASTER in roles:
        roles[Role.BROKER] = broker_role(roles[Role.MASTER])
    return roles


def broker_role(master: RoleSpec) -> RoleSpec:
    """The broker's role when the spec gives no ``roles.broker``: the master's image and
    health check, small resources (a collector holding CCB connections, no negotiator)."""
    return RoleSpec(Role.BROKER, master.image, BROKER_CPUS, BROKER_MEM_MB, master.disk_mb,
                    health_check=master.health_check,
                    kill_grace_period_s=master.kill_grace_period_s)


def _role(role: Role, value: Any, c: Checker) -> RoleSpec:
    p = ("roles", role.value)
    d = c.mapping(value, p, ROLE_KEYS + ROLE_ONLY_KEYS[role], required=["image", "cpus", "mem"])
    image = c.string(d, "image", p, pattern=IMAGE, describe="a Docker image reference")
    cpus = c.number(d, "cpus", p, positive=True, unit="cores")
    if role is Role.EXECUTOR and cpus < 1 and cpus > 0:
        c.problem(p + ("cpus",), f"an executor needs at least 1 core to run a job; got {cpus}")
    mem = c.number(d, "mem", p, positive=True, unit="MiB")
    disk = c.number(d, "disk", p, 1024, positive=True, unit="MiB")
    jobs = c.integer(d, "jobs_per_executor", p, max(1, int(cpus)), minimum=1)
    address = None
    if "address" in d:
        text = c.string(d, "address", p, describe="an IP address, or dynamic")
        try:
            address = text if text == DYNAMIC_ADDRESS else str(ipaddress.ip_address(text))
        except ValueError:
            if text:
                c.problem(p + ("address",), f"'{text}' is not an IP address (nor "
                                            f"'{DYNAMIC_ADDRESS}': any address, found through "
                                            f"network.discovery)")
    return RoleSpec(
        role, image, cpus, mem, disk,
        condor_config=_knobs(d.get("condor_config"), p + ("condor_config",), c),
        volumes=_volumes(d.get("volumes"), p + ("volumes",), c),
        docker_parameters=_docker_params(d.get("docker_parameters"), p + ("docker_parameters",), c),
        health_check=_health(d.get("health_check"), p + ("health_check",), c),
        kill_grace_period_s=c.number(d, "kill_grace_period", p, 30, minimum=0, unit="seconds"),
        jobs_per_executor=jobs,
        address=address,
    )


def _knobs(value: Any, p: tuple, c: Checker) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        c.problem(p, "must be a mapping of HTCondor knob names to values, "
                     "e.g. {STARTD_NOCLAIM_SHUTDOWN: 1200}")
        return ()
    out = []
    for knob, val in value.items():
        if not isinstance(knob, str) or not re.fullmatch(KNOB, knob):
            c.problem(p + (knob,), f"'{knob}' is not an HTCondor knob name")
            continue
        if isinstance(val, bool):
            text = "True" if val else "False"
        elif isinstance(val, (int, float, str)):
            text = str(val)
        else:
            c.problem(p + (knob,), "value must be a string, number or boolean")
            continue
        if "\n" in text or "\x00" in text:
            c.problem(p + (knob,), "value must be one line")
            continue
        if knob.upper() in OWNED_KNOBS:
            c.problem(p + (knob,), f"{knob} is set by htcmesos from the spec "
                                   f"(pool, sites, role resources); remove it here")
        if knob.upper().startswith("ALLOW_") and "*" in text.replace(",", " ").split():
            c.problem(p + (knob,), f"{knob} = * would let anyone in; name identities, "
                                   f"e.g. *@$(UID_DOMAIN)")
        out.append((knob, text))
    return tuple(out)


def _volumes(value: Any, p: tuple, c: Checker) -> tuple[Volume, ...]:
    out = []
    for i, item in enumerate(c.sequence(value, p, "volumes")):
        q = p + (i,)
        d = c.mapping(item, q, ["container_path", "host_path", "mode"],
                      required=["container_path", "host_path"])
        cp = c.string(d, "container_path", q, pattern=r"/.*", describe="an absolute path")
        hp = c.string(d, "host_path", q, pattern=r"/.*", describe="an absolute path")
        out.append(Volume(cp, hp, c.choice(d, "mode", q, ["RO", "RW"], "RO")))
    return tuple(out)


def _docker_params(value: Any, p: tuple, c: Checker) -> tuple[tuple[str, str], ...]:
    out = []
    for i, item in enumerate(c.sequence(value, p, "{key, value} pairs")):
        q = p + (i,)
        d = c.mapping(item, q, ["key", "value"], required=["key", "value"])
        key = c.string(d, "key", q, pattern=r"[a-z][a-z0-9-]*", describe="a docker run option "
                                                                       "without '--'")
        val = d.get("value")
        if not isinstance(val, (str, int, float)) or isinstance(val, bool):
            if "value" in d:
                c.problem(q + ("value",), "must be a string or number")
            val = ""
        out.append((key, str(val)))
    return tuple(out)


def _health(value: Any, p: tuple, c: Checker) -> HealthCheck:
    d = c.mapping(value, p, ["path", "port", "grace_period", "interval", "timeout",
                             "consecutive_failures"])
    port = c.integer(d, "port", p, 5000, minimum=1)
    if port > 65535:
        c.problem(p + ("port",), f"must be ≤ 65535; got {port}")
    return HealthCheck(
        path=c.string(d, "path", p, "/health", pattern=r"/\S*", describe="an absolute URL path"),
        port=port,
        grace_period_s=c.number(d, "grace_period", p, 300, minimum=0, unit="seconds"),
        interval_s=c.number(d, "interval", p, 30, positive=True, unit="seconds"),
        timeout_s=c.number(d, "timeout", p, 10, positive=True, unit="seconds"),
        consecutive_failures=c.integer(d, "consecutive_failures", p, 3, minimum=1))


def _autoscaling(value: Any, c: Checker, sites: list[SiteSpec],
                 base_dir: Path = Path(".")) -> AutoscalingSpec:
    p = ("autoscaling",)
    d = c.mapping(value, p, ["enabled", "min_executors", "max_executors", "idle_before_scale_in",
                             "max_launches_per_tick", "scale_up_cooldown",
                             "scale_down_cooldown", "tick", "hooks", "driver",
                             "executor_size"])
    hq = p + ("hooks",)
    hooks = c.mapping(d.get("hooks"), hq, ["folder", "timeout"],
                      required=["folder"] if "hooks" in d else [])
    site_max = sum(s.executors_max for s in sites)
    lo = c.integer(d, "min_executors", p, sum(s.executors_min for s in sites), minimum=0)
    hi = c.integer(d, "max_executors", p, site_max, minimum=0)
    if lo > hi:
        c.problem(p + ("min_executors",), f"min_executors ({lo}) > max_executors ({hi}); "
                                          f"min must be ≤ max")
    if lo > site_max and sites:
        c.problem(p + ("min_executors",), f"min_executors ({lo}) exceeds the sites' combined "
                                          f"executors.max ({site_max})")
    enabled = c.boolean(d, "enabled", p, True)
    if d.get("driver") == "clues" and not enabled:
        c.problem(p + ("driver",), "driver: clues needs enabled: true (the loop carries out "
                                   "CLUES' power requests)")
    size = c.choice(d, "executor_size", p, ["slot", "jobs"], "slot")
    if size == "jobs" and d.get("driver") == "clues":
        c.problem(p + ("executor_size",), "executor_size: jobs needs driver: htcmesos (CLUES "
                                          "powers on nodes of one size, the executor role's)")
    return AutoscalingSpec(
        enabled=enabled,
        min_executors=lo, max_executors=hi,
        idle_before_scale_in_s=c.number(d, "idle_before_scale_in", p, 60, minimum=0,
                                        unit="seconds"),
        max_launches_per_tick=c.integer(d, "max_launches_per_tick", p, 10, minimum=1),
        scale_up_cooldown_s=c.number(d, "scale_up_cooldown", p, 30, minimum=0, unit="seconds"),
        scale_down_cooldown_s=c.number(d, "scale_down_cooldown", p, 120, minimum=0,
                                       unit="seconds"),
        tick_s=c.number(d, "tick", p, 10, positive=True, unit="seconds"),
        hooks_folder=_file(c.string(hooks, "folder", hq, describe="a folder of hook "
                                                                  "executables"), base_dir)
        if hooks.get("folder") else None,
        hooks_timeout_s=c.number(hooks, "timeout", hq, 180, positive=True, unit="seconds"),
        driver=c.choice(d, "driver", p, ["htcmesos", "clues"], "htcmesos"),
        executor_size=size)
