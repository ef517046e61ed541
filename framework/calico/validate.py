"""Check Calico v3 resources against the API's documented fields before anything is written.

Writing straight into etcd skips Calico's own validation (libcalico-go's client runs it;
etcd checks nothing), so ``apply`` runs this first. Each kind has a table of the fields
its Go type documents (api/pkg/apis/projectcalico/v3/ippool.go, globalnetworkpolicy.go,
networkpolicy.go, policy_common.go) with the type each field's value must have; the
cross-field rules follow libcalico-go/lib/validator/v3/validator.go (validateIPPool,
validateRule, validateEntityRule). A field not in the table is an error (a typo, or a v1
leftover such as ``ipip`` / ``nat-outgoing``), as are values of the wrong type.

:func:`problems` returns every problem found as ``"<Kind>/<name>: <field path>: <what>"``;
:func:`validate` raises :class:`~framework.errors.CalicoInvalid` with all of them.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from ..errors import CalicoInvalid
from .selector import SelectorError, parse

API_VERSION = "projectcalico.org/v3"
DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = rf"{DNS_LABEL}(\.{DNS_LABEL})*"
QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")   # case-sensitive
#: protocols whose rules may name ports, by name or number
#: (api/pkg/lib/numorstring/protocol.go SupportsPorts)
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP", 6, 17, 132)
ICMP_PROTOCOLS = {"ICMP": 4, 1: 4, "ICMPv6": 6, 58: 6}           # protocol → its ipVersion
#: Kubernetes' port name (IsValidPortName, the validator's "portName"): ≤ 15 of a-z 0-9 -,
#: at least one letter, no "--", alphanumeric at both ends
NAMED_PORT = r"(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?"
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))

Check = Callable[[Any, str, list[str]], None]


# -- value checkers: each appends "path: what" to the list ------------------------------

def _string(pattern: str | None = None, describe: str = "", maxlen: int = 0) -> Check:
    def check(v: Any, at: str, out: list[str]) -> None:
        if not isinstance(v, str):
            out.append(f"{at}: expected a string, got {_type(v)}")
        elif pattern and not re.fullmatch(pattern, v):
            out.append(f"{at}: {v!r} is not {describe}")
        elif maxlen and len(v) > maxlen:
            out.append(f"{at}: {v!r} is longer than {maxlen} characters")
    return check


def _choice(*allowed: str) -> Check:
    def check(v: Any, at: str, out: list[str]) -> None:
        if v not in allowed or not isinstance(v, str):
            out.append(f"{at}: {v!r} is not one of {', '.join(allowed)}")
    return check


def _bool(v: Any, at: str, out: list[str]) -> None:
    if not isinstance(v, bool):
        out.append(f"{at}: expected true or false, got {_type(v)}")


def _int(lo: int, hi: int) -> Check:
    def check(v: Any, at: str, out: list[str]) -> None:
        if isinstance(v, bool) or not isinstance(v, int):
            out.append(f"{at}: expected an integer, got {_type(v)}")
        elif not lo <= v <= hi:
            out.append(f"{at}: {v} is outside {lo}–{hi}")
    return check


def _number(v: Any, at: str, out: list[str]) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        out.append(f"{at}: expected a number, got {_type(v)}")


def _selector(v: Any, at: str, out: list[str]) -> None:
    if not isinstance(v, str):
        out.append(f"{at}: expected a selector string, got {_type(v)}")
        return
    try:
        parse(v)
    except SelectorError as exc:
        out.append(f"{at}: invalid selector {v!r}: {exc}")


def _no_global(v: Any, at: str, out: list[str]) -> None:
    """A selector without ``global()``: that belongs in a rule's namespaceSelector only
    (the validation rules on EntityRule, the policy specs and IPPoolSpec)."""
    _selector(v, at, out)
    if isinstance(v, str) and "global(" in v:
        out.append(f"{at}: global() can only be used in an EntityRule namespaceSelector")


def _namespace_selector(v: Any, at: str, out: list[str]) -> None:
    """A rule's namespaceSelector: ``global()`` only on its own (validator.go
    validateEntityRule)."""
    _selector(v, at, out)
    if isinstance(v, str) and "global(" in v and v.strip(" \t") != "global()":
        out.append(f"{at}: global() must be the whole namespaceSelector")


def _cidr(v: Any, at: str, out: list[str]) -> None:
    """A strictly masked CIDR or a bare address (validator.go validateIPNetwork, the
    "net" tag of IPPool ``cidr`` and of a rule's ``nets`` / ``notNets``)."""
    if not isinstance(v, str):
        out.append(f"{at}: expected a CIDR string, got {_type(v)}")
        return
    try:
        ipaddress.ip_network(v, strict=True)
    except ValueError:
        try:
            ipaddress.ip_network(v, strict=False)
            out.append(f"{at}: {v!r} is not a strictly masked CIDR (e.g. 10.1.0.0/16)")
        except ValueError:
            out.append(f"{at}: {v!r} is not a CIDR (e.g. 10.1.0.0/16)")


def _port(v: Any, at: str, out: list[str]) -> None:
    """A number, ``"MIN:MAX"`` or a port name (api/pkg/lib/numorstring/port.go
    PortFromString: a string of digits is a number; validator.go validatePort)."""
    if isinstance(v, bool):
        out.append(f"{at}: expected a port, got a boolean")
    elif isinstance(v, int):
        _int(1, 65535)(v, at, out)
    elif isinstance(v, str) and v.isascii() and v.isdigit():
        _int(1, 65535)(int(v), at, out)
    elif isinstance(v, str) and re.fullmatch(r"\d+:\d+", v):
        lo, hi = (int(x) for x in v.split(":"))
        if not 1 <= lo <= hi <= 65535:
            out.append(f"{at}: port range {v!r} must be MIN:MAX within 1–65535, MIN ≤ MAX")
    elif not (isinstance(v, str) and re.fullmatch(NAMED_PORT, v)):
        out.append(f"{at}: {v!r} is not a port (1–65535), a range \"MIN:MAX\" or a port name")


def _protocol(v: Any, at: str, out: list[str]) -> None:
    """A name (case-sensitive) or 1–255; a string of digits is a number
    (api/pkg/lib/numorstring/uint8orstring.go)."""
    if isinstance(v, str) and v.isascii() and v.isdigit():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        _int(1, 255)(v, at, out)
    elif v not in PROTOCOLS:
        out.append(f"{at}: {v!r} is not a protocol ({', '.join(PROTOCOLS)} or 1–255)")


def _list(item: Check, most: int = 0, least: int = 0) -> Check:
    def check(v: Any, at: str, out: list[str]) -> None:
        if not isinstance(v, list):
            out.append(f"{at}: expected a list, got {_type(v)}")
            return
        if most and len(v) > most or len(v) < least:
            out.append(f"{at}: {len(v)} item(s); allowed {least}–{most or 'any'}")
        for i, x in enumerate(v):
            item(x, f"{at}[{i}]", out)
    return check


def _labels(v: Any, at: str, out: list[str]) -> None:
    """Kubernetes-style labels: qualified-name keys, short values (validator.go)."""
    if not isinstance(v, dict):
        out.append(f"{at}: expected a mapping, got {_type(v)}")
        return
    for k, val in v.items():
        _label_key(k, f"{at}.{k}", out)
        if not isinstance(val, str) or len(val) > 63 or not re.fullmatch(LABEL_VALUE, val):
            out.append(f"{at}.{k}: {val!r} is not a label value (≤ 63 of A-Z a-z 0-9 - _ ., "
                       f"alphanumeric at both ends)")


def _label_key(k: Any, at: str, out: list[str]) -> None:
    ok = isinstance(k, str)
    if ok:
        prefix, _, name = k.rpartition("/")
        ok = (len(name) <= 63 and re.fullmatch(QUALIFIED_NAME, name) is not None
              and (not prefix or (len(prefix) <= 253 and re.fullmatch(DNS_SUBDOMAIN, prefix)
                                  is not None)))
    if not ok:
        out.append(f"{at}: {k!r} is not a label key ([dns-subdomain/]name, name ≤ 63)")


def _annotations(v: Any, at: str, out: list[str]) -> None:
    if not isinstance(v, dict):
        out.append(f"{at}: expected a mapping, got {_type(v)}")
        return
    for k, val in v.items():
        _label_key(k, f"{at}.{k}", out)
        if not isinstance(val, str):
            out.append(f"{at}.{k}: expected a string, got {_type(val)}")


def _object(table: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    def check(v: Any, at: str, out: list[str]) -> None:
        if not isinstance(v, dict):
            out.append(f"{at}: expected a mapping, got {_type(v)}")
            return
        for key in required:
            if key not in v:
                out.append(f"{at}.{key}: required")
        for key, val in v.items():
            if key not in table:
                out.append(f"{at}.{key}: not a field Calico v3 documents here "
                           f"(known: {', '.join(table)})")
            else:
                table[key](val, f"{at}.{key}", out)
    return check


def _type(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


# -- the tables (field → checker), from the Go types' json tags -------------------------

METADATA = _object({
    "name": _string(), "namespace": _string(DNS_LABEL, "a DNS label", 63),
    "labels": _labels, "annotations": _annotations, "uid": _string(),
    "creationTimestamp": _string(), "resourceVersion": _string(), "generation": _int(0, 2**62),
}, required=("name",))

ICMP = _object({"type": _int(0, 254), "code": _int(0, 255)})
SERVICE_ACCOUNTS = _object({"names": _list(_string()), "selector": _selector})
SERVICES = _object({"name": _string(), "namespace": _string()})
HTTP_MATCH = _object({"methods": _list(_string()), "paths": _list(_object(
    {"exact": _string(), "prefix": _string()}))})

# policy_common.go EntityRule
ENTITY_RULE = _object({
    "nets": _list(_cidr, most=256), "notNets": _list(_cidr, most=256),
    "selector": _no_global, "notSelector": _selector,
    "namespaceSelector": _namespace_selector,
    "ports": _list(_port, most=50), "notPorts": _list(_port, most=50),
    "serviceAccounts": SERVICE_ACCOUNTS, "services": SERVICES,
})

# policy_common.go Rule
RULE = _object({
    "action": _choice("Allow", "Deny", "Log", "Pass"), "ipVersion": _int(4, 6),
    "protocol": _protocol, "notProtocol": _protocol, "icmp": ICMP, "notICMP": ICMP,
    "source": ENTITY_RULE, "destination": ENTITY_RULE, "http": HTTP_MATCH,
    "metadata": _object({"annotations": _annotations}),
}, required=("action",))

_POLICY_COMMON: dict[str, Check] = {
    "tier": _string(DNS_LABEL, "a tier name (one DNS label)", 63), "order": _number,
    "selector": _no_global, "types": _list(_choice("Ingress", "Egress"), most=2, least=1),
    "ingress": _list(RULE), "egress": _list(RULE), "serviceAccountSelector": _no_global,
    "performanceHints": _list(_choice("AssumeNeededOnEveryNode")),
}

SPECS: dict[str, Check] = {
    # ippool.go IPPoolSpec
    "IPPool": _object({
        "cidr": _cidr, "vxlanMode": _choice("Never", "Always", "CrossSubnet"),
        "ipipMode": _choice("Never", "Always", "CrossSubnet"), "natOutgoing": _bool,
        "disabled": _bool, "disableBGPExport": _bool, "blockSize": _int(0, 128),
        "nodeSelector": _no_global, "namespaceSelector": _no_global,
        "allowedUses": _list(_choice("Workload", "Tunnel", "LoadBalancer")),
        "assignmentMode": _choice("Automatic", "Manual"),
    }, required=("cidr",)),
    # globalnetworkpolicy.go GlobalNetworkPolicySpec
    "GlobalNetworkPolicy": _object({
        **_POLICY_COMMON, "doNotTrack": _bool, "preDNAT": _bool, "applyOnForward": _bool,
        "namespaceSelector": _no_global}),
    # networkpolicy.go NetworkPolicySpec
    "NetworkPolicy": _object(dict(_POLICY_COMMON)),
}
NAMESPACED = {"NetworkPolicy"}


# -- cross-field rules (validator.go) -------------------------------------------------------

def _name_problems(kind: str, name: Any, out: list[str]) -> None:
    if not isinstance(name, str):
        return
    if kind == "IPPool":
        if len(name) > 253 or not re.fullmatch(DNS_SUBDOMAIN, name):
            out.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain (lower-case "
                       f"letters, digits, '-', '.'; ≤ 253)")
        return
    # validator.go (Global)NetworkPolicy name regex: one or two DNS-label-shaped parts,
    # ≤ 253 in all (no 63-character limit per part: that is tiers' rule)
    parts = name.split(".")
    if len(name) > 253 or len(parts) > 2 or any(not re.fullmatch(DNS_LABEL, p) for p in parts):
        out.append(f"metadata.name: {name!r} is not a {kind} name ([tier.]name of "
                   f"lower-case letters, digits, '-'; ≤ 253)")


def _ippool_problems(spec: dict[str, Any], out: list[str]) -> None:
    try:
        net = ipaddress.ip_network(spec.get("cidr", ""), strict=True)
    except (TypeError, ValueError):
        return                                   # reported by the table
    lo, hi = (20, 32) if net.version == 4 else (116, 128)
    size = spec.get("blockSize") or (26 if net.version == 4 else 122)   # 0: the default
    if isinstance(size, int) and not isinstance(size, bool):
        if not lo <= size <= hi:
            out.append(f"spec.blockSize: IPv{net.version} block size must be between "
                       f"{lo} and {hi}, not {size}")
        elif size < net.prefixlen and not spec.get("disabled"):
            out.append(f"spec.blockSize: /{size} blocks are larger than the pool {net}")
    if any(net.overlaps(ll) for ll in LINK_LOCAL):
        out.append(f"spec.cidr: {net} overlaps the link-local range")
    modes = spec.get("ipipMode", "Never"), spec.get("vxlanMode", "Never")
    if "Never" not in modes:
        out.append("spec: Cannot enable both VXLAN and IPIP on the same IPPool")
    if net.version == 6 and modes[0] != "Never":
        out.append("spec.ipipMode: IPIP is not supported on an IPv6 pool")


def _as_protocol(v: Any) -> Any:
    """A protocol as a name or a number (a wrong type, reported by the table, as text)."""
    if isinstance(v, str) and v.isascii() and v.isdigit():
        return int(v)
    return v if v is None or isinstance(v, (str, int)) else repr(v)


def _is_named_port(p: Any) -> bool:
    return isinstance(p, str) and not (p.isascii() and p.isdigit()) and ":" not in p


def _rule_problems(rule: dict[str, Any], at: str, out: list[str]) -> None:
    proto = _as_protocol(rule.get("protocol"))
    for side in ("source", "destination"):
        ent = rule.get(side)
        if not isinstance(ent, dict):
            continue
        ports = [p for key in ("ports", "notPorts") for p in (ent.get(key) or [])]
        # validator.go validateRule: without a protocol only named ports; with one, any
        # port only if the protocol has ports
        if proto is None and not all(map(_is_named_port, ports)):
            out.append(f"{at}.{side}.ports: rules with numeric port or port range must set "
                       f"protocol to TCP or UDP or SCTP")
        elif proto is not None and ports and proto not in PORT_PROTOCOLS:
            out.append(f"{at}.{side}.ports: rules that specify ports must set protocol "
                       f"to TCP or UDP or SCTP")
        versions = set()
        for key in ("nets", "notNets"):
            for cidr in ent.get(key) or []:
                try:
                    versions.add(ipaddress.ip_network(cidr, strict=False).version)
                except (TypeError, ValueError):
                    pass
        if len(versions) > 1:
            out.append(f"{at}.{side}: a rule may not mix IPv4 and IPv6 CIDRs")
        elif versions and rule.get("ipVersion") not in (None, *versions):
            out.append(f"{at}.{side}: CIDRs of IPv{versions.pop()} in an "
                       f"ipVersion {rule['ipVersion']} rule")
    if rule.get("ipVersion") not in (None, 4, 6):
        out.append(f"{at}.ipVersion: must be 4 or 6")
    # policy_common.go Rule / ICMPFields validation rules
    if (rule.get("icmp") or rule.get("notICMP")) and proto not in ICMP_PROTOCOLS:
        out.append(f"{at}.icmp: ICMP fields need protocol ICMP or ICMPv6")
    for key in ("protocol", "notProtocol"):
        want = ICMP_PROTOCOLS.get(_as_protocol(rule.get(key)))
        if want and rule.get("ipVersion") in (4, 6) and rule["ipVersion"] != want:
            out.append(f"{at}.ipVersion: protocol {rule[key]} requires ipVersion {want}")
    for key in ("icmp", "notICMP"):
        fields = rule.get(key)
        if isinstance(fields, dict) and "code" in fields and "type" not in fields:
            out.append(f"{at}.{key}.code: ICMP code specified without an ICMP type")


def _policy_problems(spec: dict[str, Any], kind: str, out: list[str]) -> None:
    types = spec.get("types")
    if isinstance(types, list) and len(set(map(str, types))) != len(types):
        out.append("spec.types: repeated entry")
    for direction, typ in (("ingress", "Ingress"), ("egress", "Egress")):
        rules = spec.get(direction)
        if rules and isinstance(types, list) and typ not in types:
            out.append(f"spec.{direction}: rules here are never applied: types lacks {typ}")
        for i, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, dict):
                _rule_problems(rule, f"spec.{direction}[{i}]", out)
    if "types" not in spec:
        out.append("spec.types: required here (felix applies a stored policy without types "
                   "to both directions: felix/calc/policy_sorter.go)")
    if kind == "GlobalNetworkPolicy":
        if spec.get("preDNAT") and spec.get("doNotTrack"):
            out.append("spec: preDNAT and doNotTrack cannot both be true")
        if (spec.get("preDNAT") or spec.get("doNotTrack")) and not spec.get("applyOnForward"):
            out.append("spec.applyOnForward: must be true with preDNAT or doNotTrack")
        if spec.get("preDNAT") and spec.get("egress"):
            out.append("spec.egress: a preDNAT policy has no egress rules")


def problems(resource: Any) -> list[str]:
    """Every problem of one resource, each prefixed ``<Kind>/<name>: ``."""
    out: list[str] = []
    if not isinstance(resource, dict):
        return [f"<resource>: expected a mapping, got {_type(resource)}"]
    kind = resource.get("kind")
    meta = resource.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    for key in resource:
        if key not in ("apiVersion", "kind", "metadata", "spec", "status"):
            out.append(f"{key}: not a top-level field of a Calico resource")
    if resource.get("apiVersion") != API_VERSION:
        out.append(f"apiVersion: {resource.get('apiVersion')!r}, expected {API_VERSION}")
    if kind not in SPECS:
        out.append(f"kind: {kind!r} is not one of {', '.join(SPECS)}")
    METADATA(meta, "metadata", out)
    if kind in SPECS:
        _name_problems(kind, name, out)
        if kind in NAMESPACED and isinstance(meta, dict) and not meta.get("namespace"):
            out.append("metadata.namespace: required for a namespaced kind")
        if kind not in NAMESPACED and isinstance(meta, dict) and "namespace" in meta:
            out.append(f"metadata.namespace: {kind} is not namespaced")
        spec = resource.get("spec")
        SPECS[kind](spec, "spec", out)
        if isinstance(spec, dict):
            if kind == "IPPool":
                _ippool_problems(spec, out)
            else:
                _policy_problems(spec, kind, out)
    return [f"{kind}/{name}: {p}" for p in out]


def validate(resources: list[dict[str, Any]]) -> None:
    """Raise :class:`CalicoInvalid` listing every problem of ``resources`` (also two
    resources of one kind and name, and IPPools whose CIDRs overlap)."""
    found: list[str] = []
    seen: set[tuple[Any, Any, Any]] = set()
    nets: list[tuple[str, Any]] = []
    for res in resources:
        found += problems(res)
        if not isinstance(res, dict) or not isinstance(res.get("metadata"), dict):
            continue
        meta = res["metadata"]
        key = (res.get("kind"), meta.get("namespace"), meta.get("name"))
        if key in seen:
            found.append(f"{key[0]}/{key[2]}: rendered twice")
        seen.add(key)
        if res.get("kind") == "IPPool" and isinstance(res.get("spec"), dict):
            try:
                net = ipaddress.ip_network(res["spec"].get("cidr", ""), strict=True)
            except (TypeError, ValueError):
                continue
            for other, onet in nets:
                if net.overlaps(onet):
                    found.append(f"IPPool/{meta.get('name')}: spec.cidr: {net} overlaps "
                                 f"IPPool/{other} {onet}")
            nets.append((str(meta.get("name")), net))
    if found:
        raise CalicoInvalid(found)
