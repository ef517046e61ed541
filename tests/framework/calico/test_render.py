"""The rendered IPPools and policies, block sizing, and `htcmesos calico render`."""
from __future__ import annotations

import ipaddress

import pytest
import yaml
from click.testing import CliRunner

from framework.calico.render import OWNER_LABEL, render_resources, site_pool_size, site_tasks
from framework.calico.sizing import block_size
from framework.calico.validate import validate
from framework.cli import cli
from framework.errors import CalicoInvalid
from tests.framework.calico.specs import make_spec, pool, spec_file

net = ipaddress.ip_network


def by_name(resources):
    return {r["metadata"]["name"]: r for r in resources}


def test_one_pool_per_site_with_encapsulation_nat_and_owner(tmp_path):
    def mutate(d):
        pool("alpha")(d)
        d["sites"][1]["calico"].update(encapsulation="vxlan", nat_outgoing=False)
    res = by_name(render_resources(make_spec(tmp_path, mutate)))
    dc, campus = res["alpha-dc"]["spec"], res["alpha-campus"]["spec"]
    assert dc == {"cidr": "10.1.0.0/16", "vxlanMode": "Never", "ipipMode": "CrossSubnet",
                  "natOutgoing": True, "blockSize": 26, "nodeSelector": "all()",
                  "allowedUses": ["Workload", "Tunnel"]}
    assert (campus["vxlanMode"], campus["ipipMode"], campus["natOutgoing"]) == \
        ("CrossSubnet", "Never", False)
    assert all(r["metadata"]["labels"][OWNER_LABEL] == "alpha" for r in res.values())


def test_encapsulation_none_is_never_both(tmp_path):
    def mutate(d):
        d["sites"][0]["calico"]["encapsulation"] = "none"
    res = by_name(render_resources(make_spec(tmp_path, mutate)))
    assert (res["twosites-dc"]["spec"]["ipipMode"], res["twosites-dc"]["spec"]["vxlanMode"]) \
        == ("Never", "Never")


def test_policy_set_grows_with_clients_and_ssh(tmp_path):
    plain = by_name(render_resources(make_spec(tmp_path, pool("alpha"))))
    assert sorted(n for n, r in plain.items() if r["kind"] == "GlobalNetworkPolicy") == \
        ["alpha-deny", "alpha-egress", "alpha-members"]
    full = by_name(render_resources(make_spec(
        tmp_path, pool("alpha", client_cidrs=["192.0.2.0/24", "2001:db8::/64"], ssh=True))))
    assert {"alpha-clients", "alpha-submitter-ssh"} <= set(full)
    rules = full["alpha-clients"]["spec"]["ingress"]
    # one rule per IP version: Calico refuses a rule mixing IPv4 and IPv6 CIDRs
    assert [(r["ipVersion"], r["source"]["nets"]) for r in rules] == \
        [(4, ["192.0.2.0/24"]), (6, ["2001:db8::/64"])]
    assert full["alpha-submitter-ssh"]["spec"]["ingress"][0]["destination"]["ports"] == [22]


def test_every_rendered_set_passes_the_validator(tmp_path):
    for mutate in (None, pool("alpha", client_cidrs=["192.0.2.0/24"], ssh=True)):
        validate(render_resources(make_spec(tmp_path, mutate)))


@pytest.mark.parametrize("cidr,tasks,explicit,want", [
    ("10.1.0.0/16", 52, None, 26),     # Calico's default
    ("10.1.0.0/24", 52, None, 30),     # 4 blocks of /26 < 52 tasks: /30 gives 64
    ("10.1.0.0/28", 10, None, 32),     # never a block larger than the pool; 16 ≥ 10
    ("10.1.0.0/16", 52, 24, 24),       # the spec's choice stays
    ("fd00::/64", 30, None, 122),
    ("fd00::/120", 200, None, 128),
])
def test_block_size_rule(cidr, tasks, explicit, want):
    size = block_size("s", net(cidr), tasks, explicit)
    assert size.block_size == want
    assert size.blocks == 2 ** (want - net(cidr).prefixlen)


def test_pool_too_small_names_the_site():
    with pytest.raises(CalicoInvalid, match=r"site campus: its pool 10\.2\.0\.0/28 has 16 "
                                            r"address\(es\) for up to 17 task"):
        block_size("campus", net("10.2.0.0/28"), 17)
    with pytest.raises(CalicoInvalid, match="site x: block_size 19"):
        block_size("x", net("10.0.0.0/16"), 1, 19)


def test_master_site_counts_the_central_tasks(tmp_path):
    spec = make_spec(tmp_path)
    dc, campus = spec.sites
    assert site_tasks(spec, dc) == dc.executors_max + 2          # master, submitter
    assert site_tasks(spec, campus) == campus.executors_max
    assert site_pool_size(spec, campus).block_size == 26


def test_render_cli_prints_v3_yaml_and_refuses_a_small_pool(tmp_path):
    result = CliRunner().invoke(cli, ["calico", "render", str(spec_file(tmp_path))])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert [d["kind"] for d in docs] == ["IPPool"] * 2 + ["GlobalNetworkPolicy"] * 3
    assert all(d["apiVersion"] == "projectcalico.org/v3" for d in docs)

    def small(d):
        d["sites"][1]["calico"]["cidr"] = "10.2.0.0/28"          # 16 addresses, max 30
    result = CliRunner().invoke(cli, ["calico", "render", str(spec_file(tmp_path, small))])
    assert result.exit_code == 2
    assert "site campus: its pool 10.2.0.0/28 has 16 address(es) for up to 30" in result.output
