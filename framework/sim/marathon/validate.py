"""App definitions: strict validation and normalization, as Marathon 1.11 does them.

Pure functions: a raw JSON dict in, a normalized app dict out (every default filled, as
``GET /v2/apps/{id}`` shows it), or :class:`AppInvalid` carrying Marathon's status and body.

Two kinds of 422, as upstream ``api/MarathonExceptionMapper.scala`` renders them:
- type and range errors (play-json reads of ``types/app.raml``):
  ``{"message": "Invalid JSON", "details": [{"path": "/instances", "errors": ["error.min"]}]}``;
- rule errors (``api/v2/validation/AppValidation.scala``, ``SchedulingValidation.scala``,
  ``NetworkValidation.scala``, ``SecretValidation.scala``):
  ``{"message": "Object is not valid", "details": [{"path": "/", "errors": [...]}]}``.
Type errors are reported first (a body that does not parse never reaches the rules).

Defaults follow ``api/v2/AppNormalization.scala`` and ``types/app.raml``.
Deviation: unknown top-level fields are rejected with ``error.unknown.property`` (the
RAML-generated readers of 1.11 reject additional properties; the code word is ours).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Iterable

from .paths import SEGMENT_PATTERN, resolve, valid_segments

MESOS_CHECKS = ("MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
CHECK_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND") + MESOS_CHECKS
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "UNLIKE")
NETWORK_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

#: fields of ``types/app.raml`` App (1.11, with networks, role, tty, resourceLimits)
APP_FIELDS = frozenset({
    "id", "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd",
    "constraints", "container", "cpus", "dependencies", "disk", "env", "executor", "fetch",
    "healthChecks", "instances", "labels", "maxLaunchDelaySeconds", "mem", "gpus", "ipAddress",
    "ports", "portDefinitions", "readinessChecks", "residency", "requirePorts", "secrets",
    "storeUrls", "taskKillGracePeriodSeconds", "upgradeStrategy", "uris", "user", "version",
    "versionInfo", "killSelection", "unreachableStrategy", "networks", "role", "tty",
    "resourceLimits", "executorResources", "check", "networkBandwidth"})

UNREACHABLE_DEFAULT = {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600}


class AppInvalid(Exception):
    """A request Marathon refuses: ``status`` and JSON ``body`` as it answers."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(f"{status} {body}")
        self.status, self.body = status, body


def invalid_json(details: list[tuple[str, list[str]]]) -> AppInvalid:
    return AppInvalid(422, {"message": "Invalid JSON",
                            "details": [{"path": p, "errors": e} for p, e in details]})


def not_valid(details: list[tuple[str, list[str]]]) -> AppInvalid:
    return AppInvalid(422, {"message": "Object is not valid",
                            "details": [{"path": p, "errors": e} for p, e in details]})


class _Errors:
    """Errors collected along one validation, by path (order kept)."""

    def __init__(self) -> None:
        self.types: dict[str, list[str]] = {}
        self.rules: dict[str, list[str]] = {}

    def type(self, path: str, code: str) -> None:
        self.types.setdefault(path, []).append(code)

    def rule(self, path: str, message: str) -> None:
        self.rules.setdefault(path, []).append(message)

    def raise_types(self) -> None:
        if self.types:
            raise invalid_json(list(self.types.items()))

    def raise_rules(self) -> None:
        if self.rules:
            raise not_valid(list(self.rules.items()))


# -- typed reads ---------------------------------------------------------------------------

def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(e: _Errors, obj: dict, key: str, path: str, default: Any, *, minimum: float | None = None,
            maximum: float | None = None, integer: bool = False) -> Any:
    if key not in obj or obj[key] is None:
        return default
    v = obj[key]
    if not _is_num(v):
        e.type(f"{path}/{key}", "error.expected.jsnumber")
        return default
    if integer and float(v) != int(v):
        e.type(f"{path}/{key}", "error.expected.int")
        return default
    if minimum is not None and v < minimum:
        e.type(f"{path}/{key}", "error.min")
    elif maximum is not None and v > maximum:
        e.type(f"{path}/{key}", "error.max")
    return int(v) if integer else v


def _string(e: _Errors, obj: dict, key: str, path: str, default: Any = None,
            min_length: int = 0) -> Any:
    if key not in obj or obj[key] is None:
        return default
    v = obj[key]
    if not isinstance(v, str):
        e.type(f"{path}/{key}", "error.expected.jsstring")
        return default
    if len(v) < min_length:
        e.type(f"{path}/{key}", "error.minLength")
    return v


def _bool(e: _Errors, obj: dict, key: str, path: str, default: bool) -> bool:
    if key not in obj or obj[key] is None:
        return default
    if not isinstance(obj[key], bool):
        e.type(f"{path}/{key}", "error.expected.jsboolean")
        return default
    return obj[key]


def _obj(e: _Errors, obj: dict, key: str, path: str) -> dict | None:
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        e.type(f"{path}/{key}", "error.expected.jsobject")
        return None
    return v


def _arr(e: _Errors, obj: dict, key: str, path: str) -> list | None:
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, list):
        e.type(f"{path}/{key}", "error.expected.jsarray")
        return None
    return v


def _strings(e: _Errors, obj: dict, key: str, path: str) -> list[str] | None:
    items = _arr(e, obj, key, path)
    if items is None:
        return None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            e.type(f"{path}/{key}({i})", "error.expected.jsstring")
    return [x for x in items if isinstance(x, str)]


def _string_map(e: _Errors, obj: dict, key: str, path: str) -> dict[str, str]:
    m = _obj(e, obj, key, path)
    if m is None:
        return {}
    for k, v in m.items():
        if not isinstance(v, str):
            e.type(f"{path}/{key}/{k}", "error.expected.jsstring")
    return {k: v for k, v in m.items() if isinstance(v, str)}


# -- the app --------------------------------------------------------------------------------

def normalize_app(raw: Any, base: str = "/", features: Iterable[str] = ("secrets",),
                  require_id: bool = True) -> dict[str, Any]:
    """The normalized app of ``raw`` (ids resolved against group ``base``), or AppInvalid.
    ``version`` and ``versionInfo`` of ``raw`` are kept as given (the store assigns them)."""
    if not isinstance(raw, dict):
        raise invalid_json([("/", ["error.expected.jsobject"])])
    e = _Errors()
    for key in raw:
        if key not in APP_FIELDS:
            e.type(f"/{key}", "error.unknown.property")
    app: dict[str, Any] = {}
    app_id = _string(e, raw, "id", "")
    if app_id is None and require_id:
        e.type("/id", "error.path.missing")
    app["id"] = resolve(app_id, base) if app_id else ""
    cmd = _string(e, raw, "cmd", "", min_length=1)
    args = _strings(e, raw, "args", "")
    app["instances"] = _number(e, raw, "instances", "", 1, minimum=0, integer=True)
    app["cpus"] = _number(e, raw, "cpus", "", 1, minimum=0.001)
    app["mem"] = _number(e, raw, "mem", "", 128, minimum=0)
    app["disk"] = _number(e, raw, "disk", "", 0, minimum=0)
    app["gpus"] = _number(e, raw, "gpus", "", 0, minimum=0, integer=True)
    app["backoffSeconds"] = _number(e, raw, "backoffSeconds", "", 1, minimum=0, integer=True)
    app["backoffFactor"] = _number(e, raw, "backoffFactor", "", 1.15, minimum=1.0)
    app["maxLaunchDelaySeconds"] = _number(e, raw, "maxLaunchDelaySeconds", "", 3600, minimum=0,
                                           integer=True)
    grace = _number(e, raw, "taskKillGracePeriodSeconds", "", None, minimum=0, integer=True)
    if cmd is not None:
        app["cmd"] = cmd
    if args is not None and args:
        app["args"] = args
    app["env"] = _env(e, raw)
    app["labels"] = _string_map(e, raw, "labels", "")
    app["secrets"] = _secrets(e, raw)
    app["constraints"] = _constraints(e, raw)
    deps = _strings(e, raw, "dependencies", "") or []
    app["container"] = _container(e, raw)
    app["networks"] = _networks(e, raw)
    app["healthChecks"] = _health_checks(e, raw)
    app["upgradeStrategy"] = _upgrade(e, raw)
    app["unreachableStrategy"] = _unreachable(e, raw)
    kill = _string(e, raw, "killSelection", "", "YOUNGEST_FIRST")
    if kill not in ("YOUNGEST_FIRST", "OLDEST_FIRST"):
        e.type("/killSelection", "error.expected.validenumvalue")
    app["killSelection"] = kill
    app["executor"] = _string(e, raw, "executor", "", "")
    app["user"] = _string(e, raw, "user", "")
    app["requirePorts"] = _bool(e, raw, "requirePorts", "", False)
    app["portDefinitions"] = _arr(e, raw, "portDefinitions", "") or []
    app["fetch"] = _arr(e, raw, "fetch", "") or []
    app["acceptedResourceRoles"] = _strings(e, raw, "acceptedResourceRoles", "")
    app["role"] = _string(e, raw, "role", "", "*")
    e.raise_types()

    # -- rule errors (only once every type is right) --
    if app_id is not None and not valid_segments(app["id"]):
        e.rule("/id", f"must fully match regular expression '{SEGMENT_PATTERN}'")
    if app["id"] in ("", "/") and require_id:
        e.rule("/id", "Path must contain at least one path element")
    if cmd is not None and args:
        e.rule("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    if cmd is None and not args and app["container"] is None:
        e.rule("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    resolved_deps = []
    for i, dep in enumerate(deps):
        full = resolve(dep, base) if dep else dep
        if not dep or not valid_segments(full):
            e.rule(f"/dependencies({i})", f"must fully match regular expression '{SEGMENT_PATTERN}'")
        resolved_deps.append(full)
    app["dependencies"] = resolved_deps
    if "ipAddress" in raw and raw.get("networks"):
        e.rule("/", "must not specify both networks and ipAddress")
    _network_rules(e, app)
    _secret_rules(e, app, set(features))
    _health_rules(e, app)
    _constraint_rules(e, app)
    e.raise_rules()

    # -- normalization the rules depend on (AppNormalization) --
    if app["container"] is None:
        app.pop("container")
    if grace is not None:
        app["taskKillGracePeriodSeconds"] = grace
    if not app["user"]:
        app.pop("user")
    if app["acceptedResourceRoles"] is None:
        app.pop("acceptedResourceRoles")
    for key in ("version", "versionInfo"):
        if key in raw:
            app[key] = raw[key]
    return app


def _env(e: _Errors, raw: dict) -> dict[str, Any]:
    env = _obj(e, raw, "env", "")
    out: dict[str, Any] = {}
    for k, v in (env or {}).items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, dict) and set(v) == {"secret"} and isinstance(v["secret"], str):
            out[k] = {"secret": v["secret"]}
        else:
            e.type(f"/env/{k}", "error.expected.jsstring")
    return out


def _secrets(e: _Errors, raw: dict) -> dict[str, Any]:
    secrets = _obj(e, raw, "secrets", "")
    out = {}
    for name, s in (secrets or {}).items():
        if not isinstance(s, dict):
            e.type(f"/secrets/{name}", "error.expected.jsobject")
            continue
        source = _string(e, s, "source", f"/secrets/{name}")
        if source is None:
            e.type(f"/secrets/{name}/source", "error.path.missing")
        out[name] = {"source": source}
    return out


def _constraints(e: _Errors, raw: dict) -> list[list[str]]:
    items = _arr(e, raw, "constraints", "") or []
    out = []
    for i, c in enumerate(items):
        if not isinstance(c, list) or not all(isinstance(x, str) for x in c):
            e.type(f"/constraints({i})", "error.expected.jsarray")
            continue
        out.append(list(c))
    return out


def _constraint_rules(e: _Errors, app: dict) -> None:
    """``validation/SchedulingValidation.scala``: operators and their values (``IS`` is
    not among the operators upstream accepts)."""
    for i, c in enumerate(app["constraints"]):
        path = f"/constraints({i})"
        if len(c) not in (2, 3):
            e.rule(path, "Each constraint must have either 2 or 3 fields")
            continue
        field, op = c[0], c[1]
        value = c[2] if len(c) == 3 else None
        if not field:
            e.rule(path, "Missing field and operator")
        if op not in OPERATORS:
            e.rule(path, "Constraint operator must be one of the following UNIQUE, CLUSTER, "
                         "GROUP_BY, LIKE, MAX_PER or UNLIKE")
        elif op == "UNIQUE" and value is not None:
            e.rule(path, "Value specified but not used")
        elif op == "CLUSTER" and not value:
            e.rule(path, "Missing value")
        elif op in ("LIKE", "UNLIKE"):
            if value is None:
                e.rule(path, "A regular expression value must be provided")
            else:
                try:
                    re.compile(value)
                except re.error:
                    e.rule(path, "'" + value + "' is not a valid regular expression")
        elif op in ("GROUP_BY", "MAX_PER") and value is not None or op == "MAX_PER":
            if value is None or not re.fullmatch(r"[0-9]+", value):
                e.rule(path, "Value was not a number")


def _container(e: _Errors, raw: dict) -> dict[str, Any] | None:
    c = _obj(e, raw, "container", "")
    if c is None:
        return None
    kind = _string(e, c, "type", "/container", "DOCKER")
    if kind not in ("DOCKER", "MESOS"):
        e.type("/container/type", "error.expected.validenumvalue")
    out: dict[str, Any] = {"type": kind}
    docker = _obj(e, c, "docker", "/container")
    if kind == "DOCKER" and docker is None:
        e.type("/container/docker", "error.path.missing")
    if docker is not None:
        image = _string(e, docker, "image", "/container/docker", min_length=1)
        if image is None:
            e.type("/container/docker/image", "error.path.missing")
        params = []
        for i, p in enumerate(_arr(e, docker, "parameters", "/container/docker") or []):
            if not isinstance(p, dict) or not isinstance(p.get("key"), str) \
                    or not isinstance(p.get("value"), str):
                e.type(f"/container/docker/parameters({i})", "error.expected.jsobject")
                continue
            params.append({"key": p["key"], "value": p["value"]})
        out["docker"] = {"image": image,
                         "forcePullImage": _bool(e, docker, "forcePullImage", "/container/docker", False),
                         "privileged": _bool(e, docker, "privileged", "/container/docker", False),
                         "parameters": params}
    mappings = _arr(e, c, "portMappings", "/container")
    if mappings is not None:
        out["portMappings"] = [_port_mapping(e, m, f"/container/portMappings({i})")
                               for i, m in enumerate(mappings)]
    volumes = []
    for i, v in enumerate(_arr(e, c, "volumes", "/container") or []):
        path = f"/container/volumes({i})"
        if not isinstance(v, dict):
            e.type(path, "error.expected.jsobject")
            continue
        cpath = _string(e, v, "containerPath", path, min_length=1)
        if cpath is None:
            e.type(f"{path}/containerPath", "error.path.missing")
        vol: dict[str, Any] = {"containerPath": cpath}
        if "secret" in v:
            vol["secret"] = _string(e, v, "secret", path)
        else:
            vol["hostPath"] = _string(e, v, "hostPath", path)
            mode = _string(e, v, "mode", path, "RW")
            if mode not in ("RO", "RW"):
                e.type(f"{path}/mode", "error.expected.validenumvalue")
            vol["mode"] = mode
        volumes.append(vol)
    out["volumes"] = volumes
    return out


def _port_mapping(e: _Errors, m: Any, path: str) -> dict[str, Any]:
    if not isinstance(m, dict):
        e.type(path, "error.expected.jsobject")
        return {}
    out: dict[str, Any] = {
        "containerPort": _number(e, m, "containerPort", path, 0, minimum=0, maximum=65535, integer=True)}
    if "hostPort" in m:
        out["hostPort"] = _number(e, m, "hostPort", path, 0, minimum=0, maximum=65535, integer=True)
    out["servicePort"] = _number(e, m, "servicePort", path, 0, minimum=0, maximum=65535, integer=True)
    name = _string(e, m, "name", path)
    if name is not None:
        out["name"] = name
    protocol = _string(e, m, "protocol", path, "tcp")
    if protocol not in ("tcp", "udp", "udp,tcp", "tcp,udp"):
        e.type(f"{path}/protocol", "error.pattern")
    out["protocol"] = protocol
    labels = _string_map(e, m, "labels", path)
    if labels:
        out["labels"] = labels
    return out


def _networks(e: _Errors, raw: dict) -> list[dict[str, Any]]:
    items = _arr(e, raw, "networks", "")
    if items is None:
        return [{"mode": "host"}]
    out = []
    for i, n in enumerate(items):
        path = f"/networks({i})"
        if not isinstance(n, dict):
            e.type(path, "error.expected.jsobject")
            continue
        mode = _string(e, n, "mode", path, "container")
        if mode not in ("container", "host", "container/bridge"):
            e.type(f"{path}/mode", "error.expected.validenumvalue")
        net: dict[str, Any] = {"mode": mode}
        name = _string(e, n, "name", path)
        if name is not None:
            if len(name) > 63 or not NETWORK_NAME.fullmatch(name):
                e.type(f"{path}/name", "error.pattern")
            net["name"] = name
        labels = _string_map(e, n, "labels", path)
        if labels:
            net["labels"] = labels
        out.append(net)
    return out or [{"mode": "host"}]


def _network_rules(e: _Errors, app: dict) -> None:
    """``validation/NetworkValidation.scala`` and ``AppNormalization`` (port mappings)."""
    nets = app["networks"]
    modes = {n["mode"] for n in nets}
    if len(modes) > 1:
        e.rule("/networks", "Mesos networking modes may not be mixed")
    if any(n["mode"] == "host" and (n.get("name") or n.get("labels")) for n in nets):
        e.rule("/networks", "Host networks may not have names or labels")
    container = app.get("container")
    for n in nets:
        if n["mode"] == "container" and not n.get("name"):
            e.rule("/networks", "Network name must be specified when container network is selected.")
    if container and container["type"] == "DOCKER" and \
            sum(1 for n in nets if n["mode"] == "container") > 1:
        e.rule("/networks", "may only specify a single container network when using the Docker "
                            "container engine")
    if container is not None and "portMappings" not in container:
        # AppNormalization: a container-network app without port mappings gets one default
        container["portMappings"] = [{"containerPort": 0, "name": "default", "protocol": "tcp",
                                      "servicePort": 0}] if modes != {"host"} else []
    if container is not None and modes == {"host"} and container["portMappings"]:
        e.rule("/container/portMappings", "Port mappings are only allowed with container or "
                                          "container/bridge networking")


def _secret_rules(e: _Errors, app: dict, features: set[str]) -> None:
    """``validation/SecretValidation.scala``: the feature flag, defined references."""
    volume_refs = [v for v in (app.get("container") or {}).get("volumes", []) if "secret" in v]
    uses = app["secrets"] or volume_refs or any(isinstance(v, dict) for v in app["env"].values())
    if uses and "secrets" not in features:
        e.rule("/secrets", "Feature secrets is not enabled. Enable with --enable_features secrets)")
        return
    for name, s in app["secrets"].items():
        if not name:
            e.rule("/secrets", "must not be empty")
        if not s["source"]:
            e.rule(f"/secrets/{name}/source", "must not be empty")
    for k, v in app["env"].items():
        if isinstance(v, dict) and v["secret"] not in app["secrets"]:
            e.rule(f"/env/{k}/secret", "references an undefined secret")
    for i, v in enumerate(volume_refs):
        if v["secret"] not in app["secrets"]:
            e.rule(f"/container/volumes({i})/secret", "references an undefined secret")


def _health_checks(e: _Errors, raw: dict) -> list[dict[str, Any]]:
    out = []
    for i, h in enumerate(_arr(e, raw, "healthChecks", "") or []):
        path = f"/healthChecks({i})"
        if not isinstance(h, dict):
            e.type(path, "error.expected.jsobject")
            continue
        protocol = _string(e, h, "protocol", path, "HTTP")
        if protocol not in CHECK_PROTOCOLS:
            e.type(f"{path}/protocol", "error.expected.validenumvalue")
        check: dict[str, Any] = {
            "gracePeriodSeconds": _number(e, h, "gracePeriodSeconds", path, 300, minimum=0, integer=True),
            "intervalSeconds": _number(e, h, "intervalSeconds", path, 60, minimum=0, integer=True),
            "maxConsecutiveFailures": _number(e, h, "maxConsecutiveFailures", path, 3, minimum=0,
                                              integer=True),
            "protocol": protocol,
            "timeoutSeconds": _number(e, h, "timeoutSeconds", path, 20, minimum=0, integer=True),
            "delaySeconds": _number(e, h, "delaySeconds", path, 15, minimum=0, integer=True),
        }
        if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
            check["path"] = _string(e, h, "path", path, "/")
        if protocol in ("HTTP", "HTTPS"):
            check["ignoreHttp1xx"] = _bool(e, h, "ignoreHttp1xx", path, False)
        if "port" in h:
            check["port"] = _number(e, h, "port", path, 0, minimum=0, maximum=65535, integer=True)
        if "portIndex" in h:
            check["portIndex"] = _number(e, h, "portIndex", path, 0, minimum=0, integer=True)
        if protocol == "COMMAND":
            command = _obj(e, h, "command", path)
            if command is None or not isinstance(command.get("value"), str):
                e.type(f"{path}/command", "error.path.missing")
            else:
                check["command"] = {"value": command["value"]}
        if protocol in MESOS_CHECKS:
            check["ipProtocol"] = _string(e, h, "ipProtocol", path, "IPv4")
        out.append(check)
    return out


def _health_rules(e: _Errors, app: dict) -> None:
    """``validation/AppValidation.scala`` / ``HealthCheckValidation``: one Mesos check at
    most; ``portIndex`` addresses a port mapping (or port definition); MESOS_* checks get
    ``portIndex: 0`` when no port is given and the app has ports (``AppNormalization``)."""
    checks = app["healthChecks"]
    if sum(1 for h in checks if h["protocol"] in MESOS_CHECKS) > 1:
        e.rule("/", "AppDefinition can contain at most one Mesos health check.")
    ports = (app.get("container") or {}).get("portMappings") or app["portDefinitions"]
    for i, h in enumerate(checks):
        if h["protocol"] == "COMMAND":
            continue
        if "port" in h and "portIndex" in h:
            e.rule(f"/healthChecks({i})", "Health check port and portIndex may not be used together")
        if "port" not in h and "portIndex" not in h and ports:
            h["portIndex"] = 0
        if "portIndex" in h and h["portIndex"] >= len(ports):
            e.rule(f"/healthChecks({i})", "Health check port indices must address an element of "
                                          "the ports array or container port mappings.")
        if "port" not in h and "portIndex" not in h:
            e.rule(f"/healthChecks({i})", "Health check port indices must address an element of "
                                          "the ports array or container port mappings.")


def _upgrade(e: _Errors, raw: dict) -> dict[str, float]:
    u = _obj(e, raw, "upgradeStrategy", "") or {}
    return {"minimumHealthCapacity": _number(e, u, "minimumHealthCapacity", "/upgradeStrategy", 1,
                                             minimum=0, maximum=1),
            "maximumOverCapacity": _number(e, u, "maximumOverCapacity", "/upgradeStrategy", 1,
                                           minimum=0, maximum=1)}


def _unreachable(e: _Errors, raw: dict) -> Any:
    u = raw.get("unreachableStrategy")
    if u is None:
        return dict(UNREACHABLE_DEFAULT)
    if u == "disabled":
        return "disabled"
    if not isinstance(u, dict):
        e.type("/unreachableStrategy", "error.expected.jsobject")
        return dict(UNREACHABLE_DEFAULT)
    # types/unreachableStrategy.raml: defaults 300 / 600, minimum 1, inactive < expunge
    out = {"inactiveAfterSeconds": _number(e, u, "inactiveAfterSeconds", "/unreachableStrategy",
                                           300, minimum=1, integer=True),
           "expungeAfterSeconds": _number(e, u, "expungeAfterSeconds", "/unreachableStrategy",
                                          600, minimum=1, integer=True)}
    if isinstance(out["inactiveAfterSeconds"], int) and isinstance(out["expungeAfterSeconds"], int) \
            and out["inactiveAfterSeconds"] >= out["expungeAfterSeconds"]:
        e.rule("/unreachableStrategy/inactiveAfterSeconds",
               "inactiveAfterSeconds must be less than expungeAfterSeconds")
    return out


# -- what counts as a change ----------------------------------------------------------------

#: fields whose change is a scale, not an upgrade (versionInfo.lastScalingAt)
SCALE_ONLY = ("instances",)
VOLATILE = ("version", "versionInfo")


def config_of(app: dict[str, Any]) -> dict[str, Any]:
    """The part of an app whose change restarts its tasks."""
    return {k: v for k, v in app.items() if k not in SCALE_ONLY + VOLATILE}


def merge_update(stored: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``PUT`` with ``partialUpdate`` (upstream default): top-level fields of ``body``
    replace the stored app's, the rest is kept (``api/v2/AppsResource.scala``)."""
    merged = copy.deepcopy({k: v for k, v in stored.items() if k not in VOLATILE})
    for k, v in body.items():
        merged[k] = v
    return merged
