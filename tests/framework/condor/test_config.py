"""Role configs, checked through HTCondor's own parser (htcondor2, in a child process)."""
from __future__ import annotations

import re

import pytest

from framework.condor.config import (ccb_registrations, collector_file_descriptors,
                                     render_config)
from framework.errors import ConfigRenderError
from framework.model import Role
from framework.spec import load_spec, parse_spec
from tests.condor_parse import CondorConfigError, condor_params
from tests.framework.test_spec import GOOD

SECURITY = ["SEC_DEFAULT_AUTHENTICATION_METHODS", "SEC_DEFAULT_AUTHENTICATION", "ALLOW_WRITE",
            "TRUST_DOMAIN", "USE_SHARED_PORT", "SEC_PASSWORD_DIRECTORY"]


@pytest.fixture(scope="module")
def two_sites(request):
    from tests.conftest import EXAMPLES
    return load_spec(EXAMPLES / "two-sites.yaml")


def site_of(spec, private: bool) -> str:
    return next(s.name for s in spec.sites if s.private is private)


def assert_secure(p: dict, trust_domain: str) -> None:
    assert "IDTOKENS" in re.split(r"[\s,]+", p["SEC_DEFAULT_AUTHENTICATION_METHODS"])
    assert p["SEC_DEFAULT_AUTHENTICATION"].lower() == "required"
    assert p["ALLOW_WRITE"] and "*" not in p["ALLOW_WRITE"].replace(",", " ").split()
    assert p["TRUST_DOMAIN"] == trust_domain
    assert p["USE_SHARED_PORT"] is True


def test_private_site_executor(two_sites):
    site = site_of(two_sites, private=True)
    ex = two_sites.roles[Role.EXECUTOR]
    text = render_config(two_sites, Role.EXECUTOR, site, "10.1.0.5")
    p = condor_params(text, SECURITY + [
        "CCB_ADDRESS", "PRIVATE_NETWORK_NAME", "DAEMON_LIST", "NUM_SLOTS_TYPE_1",
        "SLOT_TYPE_1_PARTITIONABLE", "NUM_CPUS", "MEMORY", "DISK", "HTCMESOS_SITE",
        "STARTD_ATTRS", "HTCMESOS_TASK_ID", "COLLECTOR_HOST", "STARTD_NOCLAIM_SHUTDOWN"],
        env={"HTCMESOS_TASK_ID": "htc.executor.campus.42"})
    assert "10.1.0.5" in p["CCB_ADDRESS"]
    assert p["COLLECTOR_HOST"] == "10.1.0.5:9618?sock=collector"
    assert p["PRIVATE_NETWORK_NAME"] == site
    assert_secure(p, two_sites.pool.trust_domain)
    assert p["DAEMON_LIST"].split() == ["MASTER", "STARTD"]
    assert (p["NUM_SLOTS_TYPE_1"], p["SLOT_TYPE_1_PARTITIONABLE"].lower()) == ("1", "true")
    assert p["NUM_CPUS"] == int(ex.cpus)
    assert int(p["MEMORY"]) == int(ex.mem_mb)
    assert int(p["DISK"]) == int(ex.disk_mb) * 1024  # KiB
    assert p["HTCMESOS_SITE"] == f'"{site}"'
    assert p["HTCMESOS_TASK_ID"] == '"htc.executor.campus.42"'
    assert {"HTCMESOS_SITE", "HTCMESOS_TASK_ID"} <= set(p["STARTD_ATTRS"].split())
    assert str(p["STARTD_NOCLAIM_SHUTDOWN"]) == "1200"  # extra knob from the spec


def test_public_site_executor_has_no_ccb(two_sites):
    site = site_of(two_sites, private=False)
    text = render_config(two_sites, Role.EXECUTOR, site, "10.1.0.5")
    p = condor_params(text, ["CCB_ADDRESS", "PRIVATE_NETWORK_NAME", "HTCMESOS_SITE"])
    assert not p["CCB_ADDRESS"]
    assert p["PRIVATE_NETWORK_NAME"] != site  # HTCondor's default, not ours
    assert p["HTCMESOS_SITE"] == f'"{site}"'


def test_master_runs_collector_negotiator_and_sizes_fds(two_sites):
    p = condor_params(render_config(two_sites, Role.MASTER), SECURITY + [
        "DAEMON_LIST", "COLLECTOR_MAX_FILE_DESCRIPTORS", "ENABLE_CCB_SERVER", "CONDOR_HOST"],
        env={"HTCMESOS_MASTER_ADDRESS": "10.9.8.7"})
    assert {"COLLECTOR", "NEGOTIATOR"} <= set(p["DAEMON_LIST"].split())
    assert str(p["ENABLE_CCB_SERVER"]).lower() == "true"
    assert p["CONDOR_HOST"] == "10.9.8.7"
    assert_secure(p, two_sites.pool.trust_domain)
    # 80 executors × (master + startd + 8 jobs) + 2 = 802 registrations, below the default
    assert ccb_registrations(two_sites) == 802
    assert p["COLLECTOR_MAX_FILE_DESCRIPTORS"] == 10240


def test_collector_fds_scale_with_the_largest_pool():
    text = GOOD.replace("{min: 0, max: 7}", "{min: 0, max: 2995}")  # 3000 executors in all
    spec = parse_spec(text)
    assert spec.executors_max == 3000
    regs = 3000 * (1 + 1 + 4) + 2
    assert ccb_registrations(spec) == regs
    rendered = render_config(spec, Role.MASTER, master_address="10.0.0.1")
    assert f"= {regs}" in rendered  # the number is stated in a comment
    p = condor_params(rendered, ["COLLECTOR_MAX_FILE_DESCRIPTORS"])
    assert p["COLLECTOR_MAX_FILE_DESCRIPTORS"] == 2 * regs == collector_file_descriptors(spec)


def test_submitter_runs_schedd(two_sites):
    p = condor_params(render_config(two_sites, Role.SUBMITTER), SECURITY + [
        "DAEMON_LIST", "CONDOR_HOST"], env={"HTCMESOS_MASTER_ADDRESS": "10.3.3.3"})
    assert p["DAEMON_LIST"].split() == ["MASTER", "SCHEDD"]
    assert p["CONDOR_HOST"] == "10.3.3.3"
    assert_secure(p, two_sites.pool.trust_domain)


def test_master_address_falls_back_to_own_address_on_the_master(two_sites):
    p = condor_params(render_config(two_sites, Role.MASTER), ["CONDOR_HOST", "IP_ADDRESS"])
    assert p["CONDOR_HOST"] == p["IP_ADDRESS"]


@pytest.mark.parametrize("example", ["two-sites.yaml", "one-site.yaml"])
def test_every_role_and_site_parses(example):
    from tests.conftest import EXAMPLES
    spec = load_spec(EXAMPLES / example)
    for role, site in [(Role.MASTER, None), (Role.SUBMITTER, None)] + [
            (Role.EXECUTOR, s.name) for s in spec.sites]:
        p = condor_params(render_config(spec, role, site, "192.168.7.1"),
                          ["TRUST_DOMAIN", "DAEMON_LIST"])
        assert p["TRUST_DOMAIN"] == spec.pool.trust_domain, (role, site)


def test_the_parser_really_rejects_bad_config():
    with pytest.raises(CondorConfigError):
        condor_params("this line is not config\n", ["DAEMON_LIST"])


@pytest.mark.parametrize("role,site,address,message", [
    (Role.EXECUTOR, None, None, "per site"),
    (Role.EXECUTOR, "mars", None, "unknown site 'mars'"),
    (Role.MASTER, None, "10.0.0.1\nALLOW_WRITE = *", "neither an IP address"),
    (Role.MASTER, None, "-bad-", "neither an IP address"),
])
def test_render_errors(two_sites, role, site, address, message):
    with pytest.raises(ConfigRenderError, match=message):
        render_config(two_sites, role, site, address)


def test_ipv6_master_address(two_sites):
    text = render_config(two_sites, Role.SUBMITTER, master_address="fd00::5")
    assert "CONDOR_HOST = fd00::5" in text
