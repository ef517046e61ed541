"""Decoding and validating ``PUT /v1/agent/service/register`` bodies as the agent does.

hashicorp/consul ``agent/agent_endpoint.go`` AgentRegisterService decodes the body with
``decodeBody`` (``agent/http.go``), which is ``lib.DecodeJSON`` (``lib/json.go``): Go's
``encoding/json`` with ``DisallowUnknownFields``. So, as upstream:

- keys match field names case-insensitively; a key that names no field of
  ``structs.ServiceDefinition`` (``agent/structs/service_definition.go``, with its
  ``UnmarshalJSON`` aliases ``enable_tag_override``, ``tagged_addresses``) or of
  ``structs.CheckType`` (``agent/structs/check_type.go``, whose ``UnmarshalJSON`` decodes
  strictly too and adds ``args``, ``script_args``, ``deregister_critical_service_after``,
  ``docker_container_id``, ``tls_server_name``, ``tls_skip_verify``, ``grpc_use_tls``,
  ``h2ping_use_tls``, and the ignored ``ServiceID`` / ``service_id``) fails the decode:
  "Request decode failed: json: unknown field \"X\"";
- a value of the wrong type fails it: "… json: cannot unmarshal …" (the emulator names
  the struct ``ServiceDefinition`` / ``CheckType``). Go's decoder keeps going after such an
  error and reports the first one; an error inside a check ends the decode at once;
- the check's durations (``Interval``, ``Timeout``, ``TTL``,
  ``DeregisterCriticalServiceAfter``) are decoded into ``interface{}`` first
  (``CheckType.UnmarshalJSON``): a string goes through ``time.ParseDuration`` ("… time:
  invalid duration …"), a number is nanoseconds, and any other type (true, [], {}) is
  silently left at zero, as upstream's type switch does; the check's ``Validate`` then
  says what a zero interval means.

Then, in order: "Missing service name", "Invalid service address" (0.0.0.0 or ::),
"Invalid Service Meta: …" (``structs.ValidateMetadata``), "Invalid check: …"
(``CheckType.Validate``), "Status for checks must 'passing', 'warning', 'critical'". Each
failure is a 400 with that plain text (:class:`Invalid`). Nested objects the emulator does
not use (``Proxy``, ``Connect``, ``Weights``, ``TaggedAddresses``, ``Locality``,
``Ports``) are checked to be objects (lists for ``Ports``) but not looked into.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_META_KEY = re.compile(r"[a-zA-Z0-9_-]+")
STATUSES = ("passing", "warning", "critical")
#: the fields of structs.ServiceDefinition (Consul CE: acl.EnterpriseMeta is empty, so
#: Namespace / Partition are unknown fields there), lower-cased, with their JSON types
SERVICE_FIELDS = {"kind": str, "id": str, "name": str, "tags": list, "address": str,
                  "taggedaddresses": dict, "meta": dict, "port": int, "ports": list,
                  "socketpath": str, "check": dict, "checks": list, "weights": dict,
                  "token": str, "enabletagoverride": bool, "locality": dict, "proxy": dict,
                  "connect": dict, "enable_tag_override": bool, "tagged_addresses": dict}
#: the fields of structs.CheckType and its UnmarshalJSON wrapper, lower-cased
CHECK_FIELDS = {"checkid": str, "name": str, "status": str, "notes": str, "scriptargs": list,
                "http": str, "h2ping": str, "h2pingusetls": bool, "header": dict,
                "method": str, "body": str, "disableredirects": bool, "tcp": str,
                "tcpusetls": bool, "udp": str, "interval": "duration", "aliasnode": str,
                "aliasservice": str, "dockercontainerid": str, "shell": str, "grpc": str,
                "grpcusetls": bool, "osservice": str, "tlsservername": str,
                "tlsskipverify": bool, "timeout": "duration", "ttl": "duration",
                "successbeforepassing": int, "failuresbeforewarning": int,
                "failuresbeforecritical": int, "proxyhttp": str, "proxygrpc": str,
                "deregistercriticalserviceafter": "duration", "outputmaxsize": int,
                "args": list, "script_args": list,
                "deregister_critical_service_after": "duration",
                "docker_container_id": str, "tls_server_name": str, "tls_skip_verify": bool,
                "grpc_use_tls": bool, "h2ping_use_tls": bool, "serviceid": str,
                "service_id": str}
#: lists and maps of strings (Tags, Meta, ScriptArgs): their elements are checked too
_STRINGS = frozenset({"tags", "meta", "scriptargs", "args", "script_args"})
_GO_TYPES = {str: "string", int: "int", bool: "bool", list: "[]string", dict: "map"}


class Invalid(Exception):
    """A 400 answer: ``text`` is the agent's plain-text body."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.text, self.status = text, status


def parse_duration(value: str) -> float:
    """Go's ``time.ParseDuration`` in seconds (``"1m30s"``, ``"250ms"``, ``"-1s"``)."""
    sign = -1.0 if value.startswith("-") else 1.0
    body = value[1:] if value[:1] in ("+", "-") else value
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise Invalid(f'Request decode failed: time: invalid duration "{value}"')
    return sign * total


def _json_type(value: Any) -> str:
    return {str: "string", bool: "bool", int: "number", float: "number", list: "array",
            dict: "object", type(None): "null"}.get(type(value), "value")


def _fields(raw: dict, fields: dict, struct: str) -> tuple[dict[str, Any], Invalid | None]:
    """Go-style strict decode of ``raw`` into ``fields`` (lower-cased names): the values
    decoded, and the first error (Go's decoder goes on after an unknown field or a type
    mismatch and returns the first one at the end)."""
    out: dict[str, Any] = {}
    first: Invalid | None = None
    for key, value in raw.items():
        name = key.lower()
        want = fields.get(name)
        problem = None
        if want is None:
            problem = f"Request decode failed: json: unknown field {_go_quote(key)}"
        elif value is None:
            continue                                    # null: the zero value
        elif want == "duration":
            out[name] = value       # any JSON value (Go: interface{}); see _durations
            continue
        elif want is int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    (isinstance(value, float) and not value.is_integer()):
                problem = (f"Request decode failed: json: cannot unmarshal "
                           f"{_json_type(value)} into Go struct field {struct}.{key} of "
                           f"type int")
            else:
                out[name] = int(value)
                continue
        elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            problem = (f"Request decode failed: json: cannot unmarshal {_json_type(value)} "
                       f"into Go struct field {struct}.{key} of type {_GO_TYPES[want]}")
        elif name in _STRINGS and not all(isinstance(v, str) for v in (
                value.values() if isinstance(value, dict) else value)):
            bad = next(v for v in (value.values() if isinstance(value, dict) else value)
                       if not isinstance(v, str))
            problem = (f"Request decode failed: json: cannot unmarshal {_json_type(bad)} "
                       f"into Go struct field {struct}.{key} of type string")
        else:
            out[name] = value
            continue
        if first is None:
            first = Invalid(problem)
    return out, first


def _go_quote(key: str) -> str:
    """``%q`` of a plain key (Go's strconv.Quote for printable text)."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _meta(meta: dict) -> dict[str, str]:
    """structs.ValidateMetadata (service meta: the ``consul-`` prefix is reserved)."""
    if len(meta) > 64:
        raise Invalid("Invalid Service Meta: Node metadata cannot contain more than 64 "
                      "key/value pairs")
    for key, value in meta.items():
        problem = ("Key cannot be blank" if not key else
                   "Key contains invalid characters" if not _META_KEY.fullmatch(key) else
                   "Key is too long (limit: 128 characters)" if len(key) > 128 else
                   "Key prefix 'consul-' is reserved for internal use"
                   if key.startswith("consul-") else
                   "Value is too long (limit: 512 characters)" if len(value) > 512 else "")
        if problem:
            raise Invalid(f"Invalid Service Meta: Couldn't load metadata pair "
                          f"('{key}', '{value}'): {problem}")
    return dict(meta)


def _decode_check(raw: Any, struct: str) -> dict[str, Any]:
    """``CheckType.UnmarshalJSON``: a strict decode, the snake-case aliases, then the
    durations; any error here ends the registration's decode at once."""
    if not isinstance(raw, dict):
        raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(raw)} into "
                      f"Go struct field {struct} of type structs.CheckType")
    c, first = _fields(raw, CHECK_FIELDS, "CheckType")
    if first is not None:
        raise first
    for alias, name in (("args", "scriptargs"), ("script_args", "scriptargs"),
                        ("docker_container_id", "dockercontainerid"),
                        ("tls_server_name", "tlsservername"),
                        ("tls_skip_verify", "tlsskipverify"), ("grpc_use_tls", "grpcusetls")):
        if alias in c and not c.get(name):
            c[name] = c[alias]
        c.pop(alias, None)
    if c.get("deregistercriticalserviceafter") is None and \
            "deregister_critical_service_after" in c:
        c["deregistercriticalserviceafter"] = c["deregister_critical_service_after"]
    c.pop("deregister_critical_service_after", None)
    for name in ("interval", "timeout", "ttl", "deregistercriticalserviceafter"):
        if name in c:
            c[name] = _duration(c[name])
    return c


def _duration(value: Any) -> float:
    """One of the check's durations as ``CheckType.UnmarshalJSON`` takes it (seconds): a
    string through ``time.ParseDuration``, a number as nanoseconds, anything else (its
    type switch has no case for it) zero."""
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1e9
    return 0.0


def _validate_check(c: dict[str, Any]) -> dict[str, Any]:
    """``CheckType.Validate``, in its order (the checks the emulator runs)."""
    interval_kind = any(c.get(k) for k in ("http", "tcp", "scriptargs", "grpc", "h2ping",
                                            "udp", "osservice"))
    interval, ttl = c.get("interval", 0.0), c.get("ttl", 0.0)
    alias = bool(c.get("aliasservice") or c.get("aliasnode"))
    if interval > 0 and ttl > 0:
        raise Invalid("Invalid check: Interval and TTL cannot both be specified")
    if interval_kind and interval <= 0:
        raise Invalid("Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, "
                      "UDP or OSService checks")
    if interval_kind and alias:
        raise Invalid("Invalid check: Interval cannot be set for Alias checks")
    if alias and ttl > 0:
        raise Invalid("Invalid check: TTL must be not be set for Alias checks")
    if not interval_kind and not alias and ttl <= 0:
        raise Invalid("Invalid check: TTL must be > 0 for TTL checks")
    if c.get("outputmaxsize", 0) < 0:
        raise Invalid("Invalid check: MaxOutputMaxSize must be positive")
    if c.get("failuresbeforewarning", 0) > c.get("failuresbeforecritical", 0):
        raise Invalid("Invalid check: FailuresBeforeWarning can't be higher than "
                      "FailuresBeforeCritical")
    return c


def decode_registration(body: Any) -> dict[str, Any]:
    """The validated registration (lower-cased keys, durations in seconds); Invalid else."""
    if not isinstance(body, dict):
        raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(body)} into "
                      f"Go value of type structs.ServiceDefinition")
    svc, first = _fields(body, SERVICE_FIELDS, "ServiceDefinition")
    checks = []                 # decoded in the body's order; an error there ends the decode
    for key in body:
        name = key.lower()
        if name == "check" and isinstance(svc.get("check"), dict):
            check = _decode_check(svc["check"], "ServiceDefinition.Check")
            if any(check.values()):     # all zero: no check (CheckType.Empty); Checks'
                checks.append(check)    # entries are validated even when empty
        elif name == "checks" and isinstance(svc.get("checks"), list):
            checks += [_decode_check(c, "ServiceDefinition.Checks") for c in svc["checks"]
                       if c is not None]
    if first is not None:
        raise first
    if svc.get("enable_tag_override"):
        svc["enabletagoverride"] = True
    if not svc.get("taggedaddresses") and svc.get("tagged_addresses"):
        svc["taggedaddresses"] = svc["tagged_addresses"]
    svc.pop("enable_tag_override", None)
    svc.pop("tagged_addresses", None)
    if not svc.get("name"):
        raise Invalid("Missing service name")
    address = svc.get("address", "")
    try:
        if address and ipaddress.ip_address(address.strip("[]")).is_unspecified:
            raise Invalid("Invalid service address")
    except ValueError:
        pass                                            # a host name is allowed
    svc["meta"] = _meta(svc.get("meta") or {})
    svc["tags"] = list(svc.get("tags") or [])
    checks = [_validate_check(c) for c in checks]
    for c in checks:
        if c.get("status") and c["status"] not in STATUSES:
            raise Invalid("Status for checks must 'passing', 'warning', 'critical'")
    svc["checks"] = checks
    svc.pop("check", None)
    svc.setdefault("id", svc["name"])
    svc.setdefault("port", 0)
    return svc
