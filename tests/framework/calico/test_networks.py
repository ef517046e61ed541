"""Site networks on a real Docker engine: Calico's driver where it is, else a bridge."""
from __future__ import annotations

import uuid

import docker
import docker.errors
import pytest
from click.testing import CliRunner

from framework.calico.networks import ensure_networks
from framework.cli import cli
from framework.errors import CalicoNetworkError
from tests.framework.calico.specs import make_spec, spec_file
from tests.services import free_docker_cidr

pytestmark = pytest.mark.docker


@pytest.fixture
def names(docker_engine):
    """Two network names no other test uses; whatever got made under them is removed."""
    tag = uuid.uuid4().hex[:8]
    made = [f"htcm-cal-{tag}-dc", f"htcm-cal-{tag}-campus"]
    yield made
    for name in made:
        try:
            docker_engine.networks.get(name).remove()
        except docker.errors.NotFound:
            pass


def sites_on(names, cidrs):
    def mutate(d):
        for site, name, cidr in zip(d["sites"], names, cidrs):
            site["calico"].update(network=name, cidr=cidr)
    return mutate


def test_bridge_fallback_created_once_with_the_site_subnet(docker_engine, names, tmp_path):
    cidrs = [free_docker_cidr(docker_engine, 231), free_docker_cidr(docker_engine, 232)]
    spec = make_spec(tmp_path, sites_on(names, cidrs))
    first = ensure_networks(docker_engine, spec)
    # the test engine has no Calico plugin: Docker refuses the driver, a bridge stands in
    assert [(n.name, n.driver, n.created) for n in first] == \
        [(names[0], "bridge", True), (names[1], "bridge", True)]
    assert all(n.fallback == "the Calico network plugin is absent" for n in first)
    for name, cidr in zip(names, cidrs):
        attrs = docker_engine.networks.get(name).attrs
        conf = attrs["IPAM"]["Config"][0]
        assert conf["Subnet"] == cidr
        assert conf["IPRange"] == cidr.rsplit(".", 1)[0] + ".128/25"   # the upper half
        assert attrs["Labels"]["htcmesos.io/pool"] == "twosites"
    again = ensure_networks(docker_engine, spec)
    assert [(n.driver, n.created, n.fallback) for n in again] == [("bridge", False, None)] * 2


def test_existing_network_with_another_subnet_is_an_error(docker_engine, names, tmp_path):
    cidrs = [free_docker_cidr(docker_engine, 233), free_docker_cidr(docker_engine, 234)]
    ensure_networks(docker_engine, make_spec(tmp_path, sites_on(names, cidrs)), False)
    other = free_docker_cidr(docker_engine, 235)
    with pytest.raises(CalicoNetworkError, match=rf"site dc: Docker network {names[0]} exists "
                                                 rf"with subnet {cidrs[0]}, the spec says {other}"):
        ensure_networks(docker_engine, make_spec(tmp_path, sites_on(names, [other, cidrs[1]])))


def test_cli_says_when_a_bridge_stands_in(docker_engine, names, tmp_path, monkeypatch):
    cidrs = [free_docker_cidr(docker_engine, 236), free_docker_cidr(docker_engine, 237)]
    monkeypatch.setattr(docker, "from_env", lambda: docker_engine)
    path = spec_file(tmp_path, sites_on(names, cidrs))
    result = CliRunner().invoke(cli, ["calico", "networks", str(path)])
    assert result.exit_code == 0, result.output
    assert (f"site dc: network {names[0]} ({cidrs[0]}) created, driver bridge — the Calico "
            f"network plugin is absent: a plain bridge network instead") in result.output
    result = CliRunner().invoke(cli, ["calico", "networks", str(path)])
    assert result.exit_code == 0 and f"network {names[1]} ({cidrs[1]}) exists" in result.output


def test_docker_refusing_the_calico_driver_falls_back(docker_engine, names, tmp_path,
                                                      monkeypatch):
    """Where the plugin seems present but Docker has no such driver (a stale socket),
    Docker's own refusal is recognised and a bridge stands in (costs the engine's wait
    for a legacy plugin, some seconds)."""
    import time

    from framework.calico import networks

    cidrs = [free_docker_cidr(docker_engine, 238), free_docker_cidr(docker_engine, 239)]
    spec = make_spec(tmp_path, sites_on(names, cidrs))
    monkeypatch.setattr(networks, "calico_plugin", lambda client: "/run/docker/plugins/x")
    begin = time.monotonic()
    net = networks.ensure_site_network(docker_engine, "twosites", spec.sites[0])
    print(f"calico driver refused after {time.monotonic() - begin:.1f} s")
    assert (net.driver, net.created, net.fallback) == \
        ("bridge", True, "the Calico network plugin is absent")
