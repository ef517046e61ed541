"""``roles.master.address: dynamic``: spec rules, rendered configs, task parameters."""
from __future__ import annotations

import textwrap

import pytest

from framework.backends.roleparts import role_docker_parameters, role_environment
from framework.condor.config import render_config
from framework.errors import SpecError
from framework.model import Role
from framework.spec import parse_spec

SPEC = textwrap.dedent("""\
    pool: {name: rp, trust_domain: rp.test, signing_key_file: k}
    sites:
      - {name: dc, agents: {attribute: "site:dc"}, calico: {network: n1, cidr: 10.5.0.0/24}}
      - {name: campus, private: true, agents: {attribute: "site:c"},
         calico: {network: n2, cidr: 10.6.0.0/24}}
    roles:
      master: {image: m, cpus: 1, mem: 512, address: ADDRESS}
      submitter: {image: s, cpus: 1, mem: 512}
      executor: {image: e, cpus: 1, mem: 512}
    backend: {type: sim}
    NETWORK
    """)
ZK = 'network: {discovery: {type: zookeeper, url: "zk://10.0.0.1:2181/htcmesos/rp/cm"}}'


def spec(tmp_path, address="dynamic", network=ZK):
    (tmp_path / "k").write_text("key")
    return parse_spec(SPEC.replace("ADDRESS", address).replace("NETWORK", network),
                      "t.yaml", tmp_path)


def knobs(text: str, *names: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, eq, value = line.partition(" = ")
        if eq and key in names:
            out[key] = value
    return out


def test_a_dynamic_master_renders_configs_that_discovery_completes(tmp_path):
    s = spec(tmp_path)
    assert s.master_dynamic and s.master_address == "central-manager.invalid"
    assert s.master_site.name == "dc"
    assert knobs(render_config(s, Role.MASTER), "CONDOR_HOST", "COLLECTOR_HOST") == {
        "CONDOR_HOST": "$(IP_ADDRESS)"}
    assert knobs(render_config(s, Role.EXECUTOR, "campus"), "CONDOR_HOST", "COLLECTOR_HOST",
                 "CCB_ADDRESS") == {
        "CONDOR_HOST": "central-manager.invalid",
        "COLLECTOR_HOST": "central-manager.invalid:9618?sock=collector",
        "CCB_ADDRESS": "$(COLLECTOR_HOST)"}
    env = role_environment(s, Role.EXECUTOR, "campus")
    assert env["HTCMESOS_DISCOVERY"] == "zk://10.0.0.1:2181/htcmesos/rp/cm"
    assert env["HTCMESOS_MASTER_ADDRESS"] == "central-manager.invalid"
    assert not [p for p in role_docker_parameters(s, Role.MASTER) if p["key"] == "ip"]


def test_a_fixed_master_keeps_its_ip_and_gets_discovery_too(tmp_path):
    s = spec(tmp_path, "10.5.0.7")
    assert not s.master_dynamic
    assert {"key": "ip", "value": "10.5.0.7"} in role_docker_parameters(s, Role.MASTER)
    assert knobs(render_config(s, Role.SUBMITTER), "CONDOR_HOST") == {"CONDOR_HOST": "10.5.0.7"}
    assert "HTCMESOS_DISCOVERY" in role_environment(s, Role.SUBMITTER, "dc")
    plain = spec(tmp_path, "10.5.0.7", "")
    assert "HTCMESOS_DISCOVERY" not in role_environment(plain, Role.SUBMITTER, "dc")


@pytest.mark.parametrize("address, network, message", [
    ("dynamic", "", "a dynamic master address needs network.discovery"),
    ("dynamic", "network: {discovery: {type: none}}", "needs network.discovery"),
    ("somewhere", ZK, "'somewhere' is not an IP address (nor 'dynamic'"),
])
def test_dynamic_needs_discovery(tmp_path, address, network, message):
    with pytest.raises(SpecError) as err:
        spec(tmp_path, address, network)
    assert message in str(err.value) and "roles.master.address" in str(err.value)
