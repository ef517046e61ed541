"""Decoding and validating ``PUT /v1/agent/service/register`` bodies as the agent does.

hashicorp/consul ``agent/agent_endpoint.go`` AgentRegisterService: the body is decoded
into ``structs.ServiceDefinition`` with Go's ``encoding/json`` (keys match field names
case-insensitively, unknown keys are ignored, a value of the wrong type fails the decode)
after ``FixupCheckType`` turned duration strings (``"10s"``) into durations (a number is
nanoseconds); then, in order: "Missing service name", "Invalid service address" (0.0.0.0 or
::), "Invalid Service Meta: …" (``structs.ValidateMetadata``), "Invalid check: …"
(``CheckType.Validate``), "Status for checks must 'passing', 'warning', 'critical'". Each
failure is a 400 with that plain text (:class:`Invalid`).
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_META_KEY = re.compile(r"[a-zA-Z0-9_-]+")
STATUSES = ("passing", "warning", "critical")
#: ServiceDefinition fields the emulator keeps, with their JSON types (Go's struct)
SERVICE_FIELDS = {"id": str, "name": str, "tags": list, "address": str, "meta": dict,
                  "port": int, "kind": str, "check": dict, "checks": list,
                  "enabletagoverride": bool, "weights": dict, "taggedaddresses": dict}
CHECK_FIELDS = {"checkid": str, "name": str, "status": str, "notes": str, "http": str,
                "method": str, "tcp": str, "args": list, "scriptargs": list, "grpc": str,
                "h2ping": str, "udp": str, "dockercontainerid": str, "aliasservice": str,
                "aliasnode": str, "osservice": str, "header": dict, "tlsskipverify": bool,
                "interval": "duration", "timeout": "duration", "ttl": "duration",
                "deregistercriticalserviceafter": "duration"}
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


def _fields(raw: dict, fields: dict, struct: str) -> dict[str, Any]:
    """Go-style decode of ``raw`` into the known ``fields`` (lower-cased names)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.lower()
        want = fields.get(name)
        if want is None or value is None:
            continue                                    # unknown keys: ignored, as in Go
        if want == "duration":
            if isinstance(value, str):
                value = parse_duration(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                value = value / 1e9                     # a number is nanoseconds
            else:
                raise Invalid(f"Request decode failed: json: cannot unmarshal "
                              f"{_json_type(value)} into Go struct field {struct}.{key} of "
                              f"type time.Duration")
        elif want is int:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    (isinstance(value, float) and not value.is_integer()):
                raise Invalid(f"Request decode failed: json: cannot unmarshal "
                              f"{_json_type(value)} into Go struct field {struct}.{key} of "
                              f"type int")
            value = int(value)
        elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
            raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(value)} "
                          f"into Go struct field {struct}.{key} of type {_GO_TYPES[want]}")
        out[name] = value
    return out


def _meta(meta: dict) -> dict[str, str]:
    """structs.ValidateMetadata (service meta: the ``consul-`` prefix is reserved)."""
    if len(meta) > 64:
        raise Invalid("Invalid Service Meta: Node metadata cannot contain more than 64 "
                      "key/value pairs")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(value)} "
                          f"into Go struct field ServiceDefinition.Meta of type string")
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


def _check(raw: Any, struct: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(raw)} into "
                      f"Go struct field {struct} of type structs.CheckType")
    c = _fields(raw, CHECK_FIELDS, "CheckType")
    interval_kind = any(c.get(k) for k in ("http", "tcp", "args", "scriptargs", "grpc",
                                            "h2ping", "udp", "osservice"))
    interval, ttl = c.get("interval", 0.0), c.get("ttl", 0.0)
    alias = bool(c.get("aliasservice") or c.get("aliasnode"))
    # structs/check_type.go CheckType.Validate, in its order
    if interval > 0 and ttl > 0:
        raise Invalid("Invalid check: Interval and TTL cannot both be specified")
    if interval_kind and interval <= 0:
        raise Invalid("Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, "
                      "UDP or OSService checks")
    if interval_kind and alias:
        raise Invalid("Invalid check: Interval cannot be set for Alias checks")
    if not interval_kind and not alias and ttl <= 0:
        raise Invalid("Invalid check: TTL must be > 0 for TTL checks")
    return c


def decode_registration(body: Any) -> dict[str, Any]:
    """The validated registration (lower-cased keys, durations in seconds); Invalid else."""
    if not isinstance(body, dict):
        raise Invalid(f"Request decode failed: json: cannot unmarshal {_json_type(body)} into "
                      f"Go value of type structs.ServiceDefinition")
    svc = _fields(body, SERVICE_FIELDS, "ServiceDefinition")
    if not svc.get("name"):
        raise Invalid("Missing service name")
    address = svc.get("address", "")
    try:
        if address and ipaddress.ip_address(address.strip("[]")).is_unspecified:
            raise Invalid("Invalid service address")
    except ValueError:
        pass                                            # a host name is allowed
    svc["meta"] = _meta(svc.get("meta") or {})
    tags = svc.get("tags") or []
    if not all(isinstance(t, str) for t in tags):
        raise Invalid("Request decode failed: json: cannot unmarshal number into Go struct "
                      "field ServiceDefinition.Tags of type string")
    svc["tags"] = list(tags)
    checks = []
    if svc.get("check"):
        checks.append(_check(svc["check"], "ServiceDefinition.Check"))
    checks += [_check(c, "ServiceDefinition.Checks") for c in svc.get("checks") or []]
    for c in checks:
        if c.get("status") and c["status"] not in STATUSES:
            raise Invalid("Status for checks must 'passing', 'warning', 'critical'")
    svc["checks"] = checks
    svc.pop("check", None)
    svc.setdefault("id", svc["name"])
    svc.setdefault("port", 0)
    return svc
