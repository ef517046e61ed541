"""What the rendered policy allows, decided by Calico's evaluation rules (policy_eval.py).

Two pools (alpha: client CIDR 192.0.2.0/24 and ssh to the submitter; beta: neither), two
sites each. Every case names source, destination, port; the expected verdict is what an
operator would ask for. The health check: Mesos runs HTTP/TCP checks against 127.0.0.1
inside the task's network namespace (apache/mesos docs/health-checks.md, "Under the
Hood"), so they never cross the Calico veth and no rule is needed; the same port reached
from the agent host's address is an ordinary ingress from a non-member: denied.
"""
from __future__ import annotations

import pytest

from framework.calico.render import render_resources
from tests.framework.calico.policy_eval import (BadSelector, Packet, Peer, compile_selector,
                                                decide)
from tests.framework.calico.specs import make_spec, pool


def member(pool_name: str, role: str, site: str, ip: str) -> Peer:
    return Peer(f"{pool_name}/{role}@{site}", ip,
                {"htcmesos.pool": pool_name, "htcmesos.role": role, "htcmesos.site": site})


A_MASTER = member("alpha", "master", "dc", "10.1.0.2")
A_SUBMIT = member("alpha", "submitter", "dc", "10.1.128.3")
A_BROKER = member("alpha", "broker", "dc", "10.1.0.3")
A_EXEC_DC = member("alpha", "executor", "dc", "10.1.128.9")
A_EXEC_CAMPUS = member("alpha", "executor", "campus", "10.2.128.9")
B_MASTER = member("beta", "master", "dc", "10.3.0.2")
B_SUBMIT = member("beta", "submitter", "dc", "10.3.128.3")
B_EXEC = member("beta", "executor", "campus", "10.4.128.7")
G_SUBMIT = member("gamma", "submitter", "dc", "10.5.128.3")
D_MASTER = member("delta", "master", "dc", "10.7.0.2")
NAT = Peer("delta campus NAT", "198.51.100.20")
CLIENT = Peer("client 192.0.2.10", "192.0.2.10")
UNKNOWN = Peer("unknown host", "198.51.100.7")
INTERNET = Peer("internet", "203.0.113.5")
AGENT = Peer("agent host", "10.0.0.1")
#: an endpoint of no pool (another application on the same Calico network)
STRANGER = Peer("stranger", "10.1.200.1", {"app": "web"})

CASES = [
    # pool members reach each other on the shared port, across sites
    (A_EXEC_CAMPUS, A_MASTER, 9618, "TCP", True),
    (A_EXEC_DC, A_BROKER, 9618, "TCP", True),
    (A_MASTER, A_EXEC_CAMPUS, 9618, "TCP", True),
    (A_SUBMIT, A_EXEC_DC, 9618, "TCP", True),
    (A_EXEC_DC, A_EXEC_CAMPUS, 9618, "TCP", True),
    (B_EXEC, B_MASTER, 9618, "TCP", True),
    # … on nothing else
    (A_EXEC_DC, A_MASTER, 22, "TCP", False),
    (A_EXEC_DC, A_MASTER, 9618, "UDP", False),
    (A_MASTER, A_EXEC_DC, 5000, "TCP", False),
    # client CIDRs: the master's, submitter's (and brokers') shared port, never executors'
    (CLIENT, A_MASTER, 9618, "TCP", True),
    (CLIENT, A_SUBMIT, 9618, "TCP", True),
    (CLIENT, A_BROKER, 9618, "TCP", True),
    (CLIENT, A_EXEC_DC, 9618, "TCP", False),
    (CLIENT, A_EXEC_CAMPUS, 9618, "TCP", False),
    # ssh to the submitter: on in alpha, off in beta (which has no client CIDRs either)
    (CLIENT, A_SUBMIT, 22, "TCP", True),
    (CLIENT, A_MASTER, 22, "TCP", False),
    (CLIENT, B_SUBMIT, 22, "TCP", False),
    (CLIENT, B_MASTER, 9618, "TCP", False),
    # gamma: client CIDRs without ssh: the shared port only
    (CLIENT, G_SUBMIT, 9618, "TCP", True),
    (CLIENT, G_SUBMIT, 22, "TCP", False),
    # nothing of another pool gets in, either way
    (B_EXEC, A_MASTER, 9618, "TCP", False),
    (B_MASTER, A_EXEC_CAMPUS, 9618, "TCP", False),
    (A_EXEC_DC, B_MASTER, 9618, "TCP", False),
    (STRANGER, A_MASTER, 9618, "TCP", False),
    # unknown hosts: nothing
    (UNKNOWN, A_MASTER, 9618, "TCP", False),
    (UNKNOWN, A_SUBMIT, 22, "TCP", False),
    (UNKNOWN, A_EXEC_DC, 9618, "TCP", False),
    (UNKNOWN, B_MASTER, 9618, "TCP", False),
    # members may leave the pool (egress allowed; natOutgoing does the rest)
    (A_EXEC_CAMPUS, INTERNET, 443, "TCP", True),
    (B_EXEC, INTERNET, 53, "UDP", True),
    # the health port from the agent host's address: a non-member, denied (see above)
    (AGENT, A_EXEC_DC, 5000, "TCP", False),
    (AGENT, A_MASTER, 9618, "TCP", False),
    # delta's campus sits behind a NAT (nat_address 198.51.100.20): its daemons reach the
    # master through it, on the shared port only; alpha has no such NAT
    (NAT, D_MASTER, 9618, "TCP", True),
    (NAT, D_MASTER, 22, "TCP", False),
    (NAT, A_MASTER, 9618, "TCP", False),
]


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pools")
    alpha = make_spec(tmp, pool("alpha", "10.1.0.0/16", "10.2.0.0/16",
                                client_cidrs=["192.0.2.0/24"], ssh=True), "alpha.yaml")
    beta = make_spec(tmp, pool("beta", "10.3.0.0/16", "10.4.0.0/16"), "beta.yaml")
    gamma = make_spec(tmp, pool("gamma", "10.5.0.0/16", "10.6.0.0/16",
                                client_cidrs=["192.0.2.0/24"], ssh=False), "gamma.yaml")
    def behind_nat(d):
        pool("delta", "10.7.0.0/16", "10.8.0.0/16")(d)
        d["sites"][1]["nat_address"] = "198.51.100.20"
    delta = make_spec(tmp, behind_nat, "delta.yaml")
    return (render_resources(alpha) + render_resources(beta) + render_resources(gamma)
            + render_resources(delta))


@pytest.mark.parametrize("src,dst,port,proto,allowed", CASES,
                         ids=[f"{s.name}->{d.name}:{p}/{pr}" for s, d, p, pr, _ in CASES])
def test_case(resources, src, dst, port, proto, allowed):
    # profiles assumed to allow everything (the most open case): each verdict is our
    # policies' doing, for endpoints of no pool too
    verdict = decide(resources, Packet(src, dst, port, proto), profile_allows=True)
    assert verdict.allowed is allowed, verdict.why


def test_ours_still_deny_when_an_operator_allows_everything_later(resources):
    """The explicit ``<pool>-deny`` (order 1000) keeps the pool closed under a broad allow
    an operator puts later in the default tier; without it, that allow would open it."""
    broad = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
             "metadata": {"name": "allow-all"},
             "spec": {"order": 2000, "selector": "all()", "types": ["Ingress"],
                      "ingress": [{"action": "Allow"}]}}
    pkt = Packet(B_EXEC, A_MASTER, 9618)
    assert not decide(resources + [broad], pkt).allowed
    without_deny = [r for r in resources if r["metadata"]["name"] != "alpha-deny"]
    assert decide(without_deny + [broad], pkt).allowed
    assert decide(resources + [broad], Packet(CLIENT, A_EXEC_DC, 9618)).allowed is False


def test_an_earlier_tier_decides_first(resources):
    """docs/calico.md: an earlier tier still decides first. A Pass there hands over to the
    default tier (ours); a Deny there wins over our allow."""
    tiers = {"security": 100.0}
    passing = gnp("sec-pass", "all()", [{"action": "Pass"}], tier="security")
    deny_ssh = gnp("sec-deny", "all()", [{"action": "Deny", "protocol": "TCP",
                                          "destination": {"ports": [22]}}], order=1,
                   tier="security")
    assert decide(resources + [passing], Packet(CLIENT, A_SUBMIT, 22),
                  tier_order=tiers).allowed
    assert not decide(resources + [passing], Packet(B_EXEC, A_MASTER, 9618),
                      tier_order=tiers).allowed
    assert not decide(resources + [deny_ssh, passing], Packet(CLIENT, A_SUBMIT, 22),
                      tier_order=tiers).allowed


# -- the evaluator itself follows Calico's rules ------------------------------------------

def gnp(name, selector, ingress, order=None, tier="default", types=("Ingress",)):
    spec = {"tier": tier, "selector": selector, "types": list(types), "ingress": ingress}
    if order is not None:
        spec["order"] = order
    return {"kind": "GlobalNetworkPolicy", "metadata": {"name": name}, "spec": spec}


WEB = Peer("web", "10.9.0.1", {"app": "web"})
OTHER = Peer("other", "10.9.0.2", {"app": "db"})
HOST = Peer("host", "10.9.9.9")                       # no endpoint: no policy of its own


def test_default_deny_once_selected_and_profile_otherwise():
    pol = [gnp("p", 'app == "web"', [{"action": "Allow", "protocol": "TCP",
                                      "destination": {"ports": [80]}}])]
    assert decide(pol, Packet(HOST, WEB, 80)).allowed
    assert not decide(pol, Packet(HOST, WEB, 81)).allowed            # selected: default deny
    assert decide(pol, Packet(WEB, OTHER, 81), profile_allows=True).allowed    # not selected
    assert not decide(pol, Packet(WEB, OTHER, 81), profile_allows=False).allowed


def test_order_nil_last_then_name():
    allow, deny = [{"action": "Allow"}], [{"action": "Deny"}]
    assert decide([gnp("b", "all()", allow, 5), gnp("a", "all()", deny)],
                  Packet(HOST, WEB, 1)).allowed                    # order 5 before nil
    assert not decide([gnp("b", "all()", allow, 5), gnp("a", "all()", deny, 5)],
                      Packet(HOST, WEB, 1)).allowed                # tie: by name, a first


def test_pass_goes_to_the_next_tier_and_a_silent_tier_drops():
    tiers = {"first": 10.0}
    passing = gnp("x", "all()", [{"action": "Pass"}], tier="first")
    allow = gnp("y", "all()", [{"action": "Allow"}])
    assert decide([passing, allow], Packet(HOST, WEB, 1), tier_order=tiers).allowed
    silent = gnp("x", "all()", [{"action": "Allow", "protocol": "UDP"}], tier="first")
    assert not decide([silent, allow], Packet(HOST, WEB, 1), tier_order=tiers).allowed


def test_pass_out_of_the_last_tier_goes_to_the_profiles():
    """felix/rules/endpoints.go: the profile chains follow the tiers; a packet every tier
    passed is the profiles' to decide (no end-of-tier drop after a Pass)."""
    passing = gnp("x", "all()", [{"action": "Pass"}])
    assert decide([passing], Packet(HOST, WEB, 1), profile_allows=True).allowed
    assert not decide([passing], Packet(HOST, WEB, 1), profile_allows=False).allowed


def test_a_tier_counts_per_direction():
    """An ingress-only policy puts no egress end-of-tier drop on the endpoint
    (endpoints.go: the tier's policy groups are per direction)."""
    ingress_only = gnp("p", 'app == "web"', [{"action": "Allow"}])
    assert decide([ingress_only], Packet(WEB, INTERNET, 443), profile_allows=True).allowed


def test_empty_types_govern_both_directions():
    both = gnp("p", 'app == "web"', [], types=())
    assert not decide([both], Packet(WEB, INTERNET, 443), profile_allows=True).allowed


def test_selectors_of_the_evaluator():
    labels = {"a": "1", "b": "x-y"}
    for text, want in [("", True), ('a == "1" && !has(c)', True), ("a not in {'1'}", False),
                       ('c != "1"', True), ('(a == "2" || b starts with "x") && has(b)', True),
                       ('b ends with "y" && b contains "-"', True)]:
        assert compile_selector(text)(labels) is want, text
    for bad in ('a = "1"', "a ==", '(a == "1"', 'a in {"1"', 'a in {"1" "2"}', "all(x)"):
        with pytest.raises(BadSelector):
            compile_selector(bad)


@pytest.mark.parametrize("text,want", [
    # the same edge cases as tests/framework/calico/test_selector.py, read in
    # libcalico-go/lib/selector/tokenizer/tokenizer.go and parser/ast.go
    ('in == "x"', True), ('in-zone == "z"', True), ('contains/k == "v"', True),
    ('a notin {"2"}', True), ('a startswith "1"', True), ('a in {"1",}', True),
    ('a in {}', False), ('missing not in {}', True), ('missing != "1"', True),
    ('missing contains ""', False), ('a == "1" || a == "2" && has(missing)', True),
    ('!a == "2" && has(a)', True),
])
def test_evaluator_selector_edge_cases(text, want):
    labels = {"in": "x", "in-zone": "z", "contains/k": "v", "a": "1"}
    assert compile_selector(text)(labels) is want
