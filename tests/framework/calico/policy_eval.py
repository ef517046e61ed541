"""An independent model of how Calico decides a packet, for the policy-semantics tests.

Written from Calico's documented behaviour and felix's sources, without any of
framework/calico's code (its selector parser included), so that the tests check the
rendered policy against Calico's semantics rather than against the renderer's own idea:

- which policies apply to an endpoint: those whose ``selector`` matches the endpoint's
  labels and that govern the direction: ``types`` lists it, or, when ``types`` is empty,
  both directions (felix/calc/policy_sorter.go, ``governsType``: "Back-compatibility");
- order: tiers by ``order`` ascending, no order last, ties by name; inside a tier,
  policies by ``order`` ascending, no order (nil) last, ties by name
  (felix/calc/policy_sorter.go, ``TierLess`` / ``PolKVLess``);
- per direction, each tier with at least one applying policy is evaluated in turn: the
  first rule that matches with Allow or Deny decides; Pass leaves the tier for the next
  one; Log only logs; a tier whose applying policies match nothing drops the packet
  (end-of-tier drop, felix/rules/endpoints.go; docs "How policy is evaluated");
- an endpoint no policy applies to falls to its profiles (none here: such an endpoint is
  decided by ``profile_allows``); traffic is allowed only if the source's egress and the
  destination's ingress both allow it; a non-workload peer (a host, the internet) has no
  workload policy on its side;
- rule matching (api/pkg/apis/projectcalico/v3/policy_common.go): ``protocol`` /
  ``notProtocol``, ``ipVersion``, and per side ``nets`` / ``notNets`` (the peer's IP),
  ``selector`` / ``notSelector`` (the peer's labels; a peer that is no endpoint matches no
  selector, so it does match every ``notSelector``), ``ports`` / ``notPorts``; a rule's
  ``source`` is the packet's source and ``destination`` its destination in both
  directions.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable

# -- selectors ------------------------------------------------------------------------------
# Calico's syntax (libcalico-go/lib/selector/parser/parser.go): || binds loosest, then &&,
# then a run of "!" before one term. Implemented here as precedence climbing over a
# regular-expression scanner; each node is a closure labels -> bool.

_SCAN = re.compile(r"""\s*(?:
    (?P<str>"[^"]*"|'[^']*')
  | (?P<fn>has\(\s*[A-Za-z0-9_./-]+\s*\)|(?:all|global)\(\s*\))
  | (?P<sym>==|!=|&&|\|\||[!(){},])
  | (?P<word>not\s*in\b|in\b|contains\b|starts\s*with\b|ends\s*with\b)
  | (?P<label>[A-Za-z0-9_./-]+)
)""", re.VERBOSE)

Pred = Callable[[dict[str, str]], bool]


class BadSelector(ValueError):
    pass


_LABEL_AT = re.compile(r"\s*([A-Za-z0-9_./-]+)")


def _scan(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _SCAN.match(text, pos)
        if not m or m.end() == pos:
            raise BadSelector(f"cannot read {text[pos:]!r}")
        kind = m.lastgroup or ""
        val = m.group(kind)
        after_label = bool(out) and out[-1][0] == "label"
        if kind == "word" and not after_label:
            # an operator word only follows a label; elsewhere it is (part of) a label
            # name, e.g. "in-zone" or "contains/x" (tokenizer.go: lastTokKind == TokLabel)
            m = _LABEL_AT.match(text, pos)
            if not m:
                raise BadSelector(f"cannot read {text[pos:]!r}")
            kind, val = "label", m.group(1)
        elif kind == "str":
            val = val[1:-1]
        elif kind == "word" or (kind == "label" and after_label):
            kind, val = "word", re.sub(r"^(not|starts|ends)\s*", r"\1 ", val).strip()
        out.append((kind, val))
        pos = m.end()
    return out


def compile_selector(text: str) -> Pred:
    toks = _scan(text)
    if not toks:
        return lambda labels: True
    pos = 0

    def peek() -> tuple[str, str]:
        return toks[pos] if pos < len(toks) else ("end", "")

    def eat() -> tuple[str, str]:
        nonlocal pos
        tok = peek()
        pos += 1
        return tok

    def disjunction() -> Pred:
        parts = [conjunction()]
        while peek() == ("sym", "||"):
            eat()
            parts.append(conjunction())
        return lambda labels: any(p(labels) for p in parts)

    def conjunction() -> Pred:
        parts = [term()]
        while peek() == ("sym", "&&"):
            eat()
            parts.append(term())
        return lambda labels: all(p(labels) for p in parts)

    def term() -> Pred:
        flips = 0
        while peek() == ("sym", "!"):
            eat()
            flips += 1
        kind, val = eat()
        if kind == "fn":
            name, arg = val[:val.index("(")], val[val.index("(") + 1:-1].strip()
            pred: Pred = (lambda labels, k=arg: k in labels) if name == "has" \
                else (lambda labels: True)
        elif (kind, val) == ("sym", "("):
            pred = disjunction()
            if eat() != ("sym", ")"):
                raise BadSelector("missing )")
        elif kind == "label":
            pred = comparison(val)
        else:
            raise BadSelector(f"unexpected {val!r}")
        if flips % 2:
            inner = pred
            return lambda labels: not inner(labels)
        return pred

    def comparison(key: str) -> Pred:
        kind, op = eat()
        if op in ("in", "not in"):
            if eat() != ("sym", "{"):
                raise BadSelector("expected {")
            values: set[str] = set()
            while peek()[0] == "str":
                values.add(eat()[1])
                if peek() != ("sym", ","):
                    break
                eat()
            if eat() != ("sym", "}"):
                raise BadSelector("expected }")
            if op == "in":
                return lambda labels: labels.get(key) in values
            return lambda labels: labels.get(key) not in values
        lit_kind, lit = eat()
        if lit_kind != "str":
            raise BadSelector(f"expected a string after {op}")
        tests: dict[str, Callable[[str | None], bool]] = {
            "==": lambda v: v == lit,
            "!=": lambda v: v != lit,                    # also true when the label is absent
            "contains": lambda v: v is not None and lit in v,
            "starts with": lambda v: v is not None and v.startswith(lit),
            "ends with": lambda v: v is not None and v.endswith(lit),
        }
        if op not in tests:
            raise BadSelector(f"unknown operator {op!r}")
        check = tests[op]
        return lambda labels: check(labels.get(key))

    pred = disjunction()
    if pos != len(toks):
        raise BadSelector(f"trailing {toks[pos:]}")
    return pred


# -- peers and packets ------------------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    name: str
    ip: str
    labels: dict[str, str] | None = None      # None: not a Calico workload endpoint

    @property
    def is_endpoint(self) -> bool:
        return self.labels is not None


@dataclass(frozen=True)
class Packet:
    src: Peer
    dst: Peer
    port: int
    protocol: str = "TCP"
    src_port: int = 40000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str


# -- policies -------------------------------------------------------------------------------

@dataclass
class Policy:
    name: str
    tier: str
    order: float | None
    applies: Pred
    types: tuple[str, ...]
    ingress: list[dict[str, Any]] = field(default_factory=list)
    egress: list[dict[str, Any]] = field(default_factory=list)

    def governs(self, direction: str) -> bool:
        return not self.types or direction in self.types


def load_policies(resources: list[dict[str, Any]]) -> list[Policy]:
    out = []
    for res in resources:
        if res.get("kind") not in ("GlobalNetworkPolicy", "NetworkPolicy"):
            continue
        spec = res.get("spec") or {}
        out.append(Policy(res["metadata"]["name"], spec.get("tier") or "default",
                          spec.get("order"), compile_selector(spec.get("selector", "")),
                          tuple(spec.get("types") or ()), list(spec.get("ingress") or []),
                          list(spec.get("egress") or [])))
    return out


def _nil_last(order: float | None) -> tuple[int, float]:
    return (1, 0.0) if order is None else (0, float(order))


def _peer_matches(ent: dict[str, Any], peer: Peer, port: int | None) -> bool:
    ip = ipaddress.ip_address(peer.ip)
    nets = [ipaddress.ip_network(n, strict=False) for n in ent.get("nets") or []]
    if nets and not any(ip in n for n in nets):
        return False
    if any(ip in ipaddress.ip_network(n, strict=False) for n in ent.get("notNets") or []):
        return False
    if "selector" in ent:
        if not peer.is_endpoint or not compile_selector(ent["selector"])(peer.labels or {}):
            return False
    if "notSelector" in ent and peer.is_endpoint and \
            compile_selector(ent["notSelector"])(peer.labels or {}):
        return False
    if ent.get("ports") and not any(_port_in(port, p) for p in ent["ports"]):
        return False
    if any(_port_in(port, p) for p in ent.get("notPorts") or []):
        return False
    return True


def _port_in(port: int | None, spec: int | str) -> bool:
    if port is None:
        return False
    if isinstance(spec, int):
        return port == spec
    lo, _, hi = str(spec).partition(":")
    return int(lo) <= port <= int(hi or lo)


def rule_matches(rule: dict[str, Any], pkt: Packet) -> bool:
    if "protocol" in rule and str(rule["protocol"]) != pkt.protocol:
        return False
    if "notProtocol" in rule and str(rule["notProtocol"]) == pkt.protocol:
        return False
    if "ipVersion" in rule and ipaddress.ip_address(pkt.src.ip).version != rule["ipVersion"]:
        return False
    return (_peer_matches(rule.get("source") or {}, pkt.src, pkt.src_port)
            and _peer_matches(rule.get("destination") or {}, pkt.dst, pkt.port))


def decide_direction(policies: list[Policy], endpoint: Peer, direction: str, pkt: Packet,
                     tier_order: dict[str, float | None], profile_allows: bool) -> Verdict:
    """The verdict of ``endpoint``'s policies for ``direction`` (Ingress | Egress)."""
    mine = [p for p in policies if p.governs(direction) and p.applies(endpoint.labels or {})]
    if not mine:
        return Verdict(profile_allows, f"{endpoint.name}: no policy applies ({direction}), "
                                       f"profile {'allows' if profile_allows else 'denies'}")
    tiers = sorted({p.tier for p in mine}, key=lambda t: (_nil_last(tier_order.get(t)), t))
    for tier in tiers:
        in_tier = sorted((p for p in mine if p.tier == tier),
                         key=lambda p: (_nil_last(p.order), p.name))
        passed = False
        for pol in in_tier:
            for i, rule in enumerate(pol.ingress if direction == "Ingress" else pol.egress):
                if not rule_matches(rule, pkt):
                    continue
                action = rule["action"]
                if action in ("Allow", "Deny"):
                    return Verdict(action == "Allow",
                                   f"{pol.name} {direction.lower()}[{i}] {action}")
                if action == "Pass":
                    passed = True
                    break
            if passed:
                break
        if not passed:
            return Verdict(False, f"{endpoint.name}: end of tier {tier} ({direction}): drop")
    return Verdict(profile_allows, f"{endpoint.name}: passed every tier ({direction}), profile "
                                   f"{'allows' if profile_allows else 'denies'}")


def decide(resources: list[dict[str, Any]], pkt: Packet, *, profile_allows: bool = False,
           tier_order: dict[str, float | None] | None = None) -> Verdict:
    """Is ``pkt`` delivered? The source's egress, then the destination's ingress."""
    policies = load_policies(resources)
    tiers = {"default": 1_000_000.0, **(tier_order or {})}
    if pkt.src.is_endpoint:
        out = decide_direction(policies, pkt.src, "Egress", pkt, tiers, profile_allows)
        if not out.allowed:
            return out
    if pkt.dst.is_endpoint:
        return decide_direction(policies, pkt.dst, "Ingress", pkt, tiers, profile_allows)
    return Verdict(True, f"{pkt.dst.name} is no Calico endpoint: leaves unpoliced")
