"""framework/calico/validate.py: resources Calico v3 would refuse are caught before a write."""
from __future__ import annotations

import copy

import pytest

from framework.calico.validate import problems, validate
from framework.errors import CalicoInvalid

POOL = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
        "metadata": {"name": "p-dc", "labels": {"htcmesos.io/pool": "p"}},
        "spec": {"cidr": "10.1.0.0/16", "ipipMode": "CrossSubnet", "vxlanMode": "Never",
                 "natOutgoing": True, "blockSize": 26, "nodeSelector": "all()"}}
POLICY = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
          "metadata": {"name": "p-members"},
          "spec": {"tier": "default", "order": 100, "selector": 'htcmesos.pool == "p"',
                   "types": ["Ingress"],
                   "ingress": [{"action": "Allow", "protocol": "TCP",
                                "source": {"selector": 'htcmesos.pool == "p"',
                                           "nets": ["192.0.2.0/24"]},
                                "destination": {"ports": [9618, "20000:20010"]}}]}}


def changed(base, path, value):
    res = copy.deepcopy(base)
    *head, last = path
    node = res
    for step in head:
        node = node[step]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return res


def test_good_resources_pass():
    assert problems(POOL) == [] and problems(POLICY) == []
    validate([POOL, POLICY])


@pytest.mark.parametrize("base,path,value,expect", [
    (POOL, ("spec", "natOutgong"), True, "spec.natOutgong: not a field Calico v3 documents"),
    (POOL, ("spec", "ipip"), {"enabled": True}, "spec.ipip: not a field"),       # v1 leftover
    (POOL, ("spec", "blockSize"), "26", "spec.blockSize: expected an integer, got a string"),
    (POOL, ("spec", "blockSize"), 19, "IPv4 block size must be between 20 and 32"),
    (POOL, ("spec", "blockSize"), 8, "spec.blockSize: IPv4 block size"),
    (POOL, ("spec", "cidr"), "10.1.0.1/16", "is not a strictly masked CIDR"),
    (POOL, ("spec", "cidr"), KeyError, "spec.cidr: required"),
    (POOL, ("spec", "cidr"), "169.254.0.0/16", "overlaps the link-local range"),
    (POOL, ("spec", "vxlanMode"), "Always", "Cannot enable both VXLAN and IPIP"),
    (POOL, ("spec", "ipipMode"), "always", "'always' is not one of Never, Always, CrossSubnet"),
    (POOL, ("spec", "natOutgoing"), "yes", "spec.natOutgoing: expected true or false"),
    (POOL, ("spec", "nodeSelector"), "rack = 'a'", "spec.nodeSelector: invalid selector"),
    (POOL, ("metadata", "name"), "P_DC", "is not a DNS-1123 subdomain"),
    (POOL, ("metadata", "namespace"), "x", "IPPool is not namespaced"),
    (POOL, ("metadata", "labels"), {"htcmesos.io/pool": "x" * 64}, "is not a label value"),
    (POOL, ("metadata", "labels"), {"bad key!": "x"}, "is not a label key"),
    (POOL, ("apiVersion",), "v1", "apiVersion: 'v1', expected projectcalico.org/v3"),
    (POOL, ("kind",), "IpPool", "kind: 'IpPool' is not one of"),
    (POOL, ("extra",), 1, "extra: not a top-level field"),
    (POLICY, ("spec", "selector"), "htcmesos.pool == p", "spec.selector: invalid selector"),
    (POLICY, ("spec", "types"), ["ingress"], "spec.types[0]: 'ingress' is not one of"),
    (POLICY, ("spec", "types"), ["Ingress", "Ingress"], "spec.types: repeated entry"),
    (POLICY, ("spec", "types"), KeyError, "spec.types: required here"),
    (POLICY, ("spec", "types"), ["Egress"], "rules here are never applied: types lacks Ingress"),
    (POLICY, ("spec", "order"), "first", "spec.order: expected a number"),
    (POLICY, ("spec", "tier"), "My Tier", "spec.tier: 'My Tier' is not a tier name"),
    (POLICY, ("spec", "ingress", 0, "protocol"), "tcp", "'tcp' is not a protocol"),
    (POLICY, ("spec", "ingress", 0, "protocol"), 256, "256 is outside 1–255"),
    (POLICY, ("spec", "ingress", 0, "protocol"), "ICMP",
     "rules that specify ports must set protocol to TCP or UDP or SCTP"),
    (POLICY, ("spec", "ingress", 0, "action"), "Accept", "'Accept' is not one of Allow, Deny"),
    (POLICY, ("spec", "ingress", 0, "action"), KeyError, "spec.ingress[0].action: required"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), [70000], "70000 is outside"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), ["9:1"], "MIN ≤ MAX"),
    (POLICY, ("spec", "ingress", 0, "destination", "prots"), [1], "destination.prots: not a field"),
    (POLICY, ("spec", "ingress", 0, "source", "nets"), ["192.0.2.0/33"], "is not a CIDR"),
    (POLICY, ("spec", "ingress", 0, "source", "nets"), ["192.0.2.0/24", "2001:db8::/64"],
     "a rule may not mix IPv4 and IPv6 CIDRs"),
    (POLICY, ("spec", "ingress", 0, "ipVersion"), 6, "CIDRs of IPv4 in an ipVersion 6 rule"),
    (POLICY, ("spec", "ingress", 0, "icmp"), {"type": 8}, "ICMP fields need protocol ICMP"),
    (POLICY, ("spec", "preDNAT"), True, "applyOnForward: must be true"),
    # what libcalico-go/lib/validator/v3/validator.go and the API's validation rules refuse
    (POLICY, ("spec", "ingress", 0, "source", "nets"), ["192.0.2.1/24"],
     "'192.0.2.1/24' is not a strictly masked CIDR"),                 # validateIPNetwork
    (POLICY, ("spec", "ingress", 0, "protocol"), KeyError,
     "rules with numeric port or port range must set protocol"),
    (POLICY, ("spec", "ingress", 0, "protocol"), "UDPLite", "rules that specify ports"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), ["0"], "0 is outside 1–65535"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), ["HTTP"], "is not a port"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), ["a--b"], "is not a port"),
    (POLICY, ("spec", "ingress", 0, "destination", "ports"), ["a" * 16], "is not a port"),
    (POLICY, ("spec", "ingress", 0, "protocol"), "0", "0 is outside 1–255"),
    (POLICY, ("spec", "ingress", 0, "protocol"), ["TCP"], "['TCP'] is not a protocol"),
    (POLICY, ("spec", "ingress", 0, "source", "selector"), "global()",
     "global() can only be used in an EntityRule namespaceSelector"),
    (POLICY, ("spec", "ingress", 0, "source", "namespaceSelector"), 'global() && a == "b"',
     "global() must be the whole namespaceSelector"),
    (POLICY, ("spec", "selector"), "global()", "global() can only be used"),
    (POOL, ("spec", "nodeSelector"), "global()", "global() can only be used"),
    (POLICY, ("metadata", "name"), "a" * 254, "is not a GlobalNetworkPolicy name"),
    (POLICY, ("metadata", "name"), "a.b.c", "is not a GlobalNetworkPolicy name"),
    (POLICY, ("metadata",), {}, "metadata.name: required"),
])
def test_bad_value_is_named(base, path, value, expect):
    bad = changed(base, path, value)
    found = problems(bad)
    assert any(expect in p for p in found), found
    # each problem names the resource first: "<Kind>/<name>: <field>: <what>"
    assert all(p.startswith(f"{bad.get('kind')}/{bad['metadata'].get('name')}: ")
               for p in found), found
    with pytest.raises(CalicoInvalid) as info:
        validate([bad])
    assert info.value.problems == found


def test_small_pool_without_block_size_takes_the_default_26():
    res = changed(changed(POOL, ("spec", "cidr"), "10.1.0.0/27"), ("spec", "blockSize"), KeyError)
    assert any("/26 blocks are larger than the pool 10.1.0.0/27" in p for p in problems(res))
    assert problems(changed(res, ("spec", "cidr"), "10.1.0.0/26")) == []
    assert problems(changed(res, ("spec", "blockSize"), 0))          # 0 is the default too


@pytest.mark.parametrize("rule", [
    # what Calico accepts and an over-strict check would refuse
    {"action": "Allow", "destination": {"ports": ["http-alt"]}},      # named, no protocol
    {"action": "Allow", "protocol": 6, "destination": {"ports": [80]}},  # TCP by number
    {"action": "Allow", "protocol": "17", "destination": {"ports": ["53"]}},
    {"action": "Allow", "protocol": 1, "icmp": {"type": 8}},          # ICMP by number
    {"action": "Allow", "protocol": "ICMPv6", "ipVersion": 6, "icmp": {"type": 128, "code": 0}},
    {"action": "Allow", "source": {"nets": ["192.0.2.7"]}},           # a bare address: /32
    {"action": "Allow", "source": {"namespaceSelector": "global()"}},
])
def test_rules_calico_accepts(rule):
    res = copy.deepcopy(POLICY)
    res["spec"]["ingress"] = [rule]
    assert problems(res) == []


@pytest.mark.parametrize("rule,expect", [
    ({"action": "Allow", "protocol": "ICMP", "ipVersion": 6}, "protocol ICMP requires ipVersion 4"),
    ({"action": "Allow", "notProtocol": 58, "ipVersion": 4}, "protocol 58 requires ipVersion 6"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"code": 0}},
     "ICMP code specified without an ICMP type"),
])
def test_icmp_rules_calico_refuses(rule, expect):
    res = copy.deepcopy(POLICY)
    res["spec"]["ingress"] = [rule]
    assert any(expect in p for p in problems(res)), problems(res)


def test_policy_name_parts_may_exceed_63_but_not_253_in_all():
    """validator.go's (global)NetworkPolicy name regex has no per-part length; the whole
    name is bounded by DNS1123SubdomainMaxLength (253)."""
    assert problems(changed(POLICY, ("metadata", "name"), "p" * 59 + "-submitter-ssh")) == []
    assert problems(changed(POLICY, ("metadata", "name"), "t." + "a" * 251)) == []
    assert problems(changed(POLICY, ("metadata", "name"), "t." + "a" * 252))


def test_networkpolicy_needs_a_namespace():
    res = changed(POLICY, ("kind",), "NetworkPolicy")
    res["spec"].pop("tier")
    assert any("metadata.namespace: required" in p for p in problems(res))
    res["metadata"]["namespace"] = "libnetwork"
    assert problems(res) == []


def test_duplicates_and_overlapping_pools():
    other = changed(POOL, ("spec", "cidr"), "10.1.128.0/17")
    with pytest.raises(CalicoInvalid) as info:
        validate([POOL, copy.deepcopy(POOL), changed(other, ("metadata", "name"), "q")])
    text = "\n".join(info.value.problems)
    assert "IPPool/p-dc: rendered twice" in text
    assert "IPPool/q: spec.cidr: 10.1.128.0/17 overlaps IPPool/p-dc 10.1.0.0/16" in text
