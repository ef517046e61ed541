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
    text = render_config(two_sites, Role.EXECUTOR, site)
    p = condor_params(text, SECURITY + [
        "CCB_ADDRESS", "PRIVATE_NETWORK_NAME", "DAEMON_LIST", "NUM_SLOTS_TYPE_1",
        "SLOT_TYPE_1_PARTITIONABLE", "NUM_CPUS", "MEMORY", "DISK", "HTCMESOS_SITE",
        "STARTD_ATTRS", "HTCMESOS_TASK_ID", "COLLECTOR_HOST", "STARTD_NOCLAIM_SHUTDOWN"],
        env={"HTCMESOS_TASK_ID": "htc.executor.campus.42"})
    assert "10.1.0.2" in p["CCB_ADDRESS"]
    assert p["COLLECTOR_HOST"] == "10.1.0.2:9618?sock=collector"
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
    text = render_config(two_sites, Role.EXECUTOR, site)
    p = condor_params(text, ["CCB_ADDRESS", "PRIVATE_NETWORK_NAME", "HTCMESOS_SITE"])
    assert not p["CCB_ADDRESS"]
    assert p["PRIVATE_NETWORK_NAME"] != site  # HTCondor's default, not ours
    assert p["HTCMESOS_SITE"] == f'"{site}"'


def test_master_runs_collector_negotiator_and_sizes_fds(two_sites):
    text = render_config(two_sites, Role.MASTER)
    p = condor_params(text, SECURITY + [
        "DAEMON_LIST", "COLLECTOR_MAX_FILE_DESCRIPTORS", "ENABLE_CCB_SERVER", "CONDOR_HOST",
        "COLLECTOR_HOST", "ALLOW_ADVERTISE_STARTD", "ALLOW_ADVERTISE_SCHEDD",
        "ALLOW_ADVERTISE_MASTER", "ALLOW_DAEMON", "NEGOTIATOR_INTERVAL",
        "NEGOTIATOR_CYCLE_DELAY", "UPDATE_INTERVAL", "CLASSAD_LIFETIME",
        "COLLECTOR_UPDATE_INTERVAL"])
    assert {"COLLECTOR", "NEGOTIATOR"} <= set(p["DAEMON_LIST"].split())
    assert str(p["ENABLE_CCB_SERVER"]).lower() == "true"
    assert p["CONDOR_HOST"] == two_sites.master_address == "10.1.0.2"
    # the central manager's COLLECTOR_HOST stays HTCondor's default: with a port or ?sock=
    # in it, the collector binds 9618 itself and the shared port daemon moves away
    assert "\nCOLLECTOR_HOST" not in text and p["COLLECTOR_HOST"] == "10.1.0.2"
    assert_secure(p, two_sites.pool.trust_domain)
    domain = two_sites.pool.trust_domain
    assert p["ALLOW_ADVERTISE_STARTD"] == f"executor@{domain}"
    assert p["ALLOW_ADVERTISE_SCHEDD"] == f"submitter@{domain}"
    assert p["ALLOW_DAEMON"] == f"condor@{domain}"
    assert set(p["ALLOW_ADVERTISE_MASTER"].split()) == {f"executor@{domain}",
                                                         f"submitter@{domain}",
                                                         f"condor@{domain}"}
    # an elastic pool: seconds, not HTCondor's minutes (pool.* in the spec, defaults 10/30)
    assert (p["NEGOTIATOR_INTERVAL"], int(p["NEGOTIATOR_CYCLE_DELAY"])) == (10, 10)
    assert p["UPDATE_INTERVAL"] == int(p["COLLECTOR_UPDATE_INTERVAL"]) == 30
    # the ads of a vanished startd go after 3 missed updates, not HTCondor's 900 s
    assert int(p["CLASSAD_LIFETIME"]) == 90
    # 80 executors × (master + startd + 8 jobs) + 2 = 802 registrations, below the default
    assert ccb_registrations(two_sites) == 802
    assert p["COLLECTOR_MAX_FILE_DESCRIPTORS"] == 10240


def test_collector_fds_scale_with_the_largest_pool():
    # one broker forced: the central manager holds every registration (more brokers are
    # planned above 5000 private ones: tests/framework/condor/test_brokers.py)
    text = GOOD.replace("{min: 0, max: 7}", "{min: 0, max: 2995}") \
        + "network: {brokers: {count: 1}}\n"  # 3000 executors in all
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
        "DAEMON_LIST", "CONDOR_HOST", "COLLECTOR_HOST", "JOB_DEFAULT_LEASE_DURATION",
        "SCHEDD_INTERVAL", "ALLOW_ADVERTISE_STARTD"])
    assert p["DAEMON_LIST"].split() == ["MASTER", "SCHEDD"]
    assert p["CONDOR_HOST"] == "10.1.0.2"
    assert p["COLLECTOR_HOST"] == "10.1.0.2:9618?sock=collector"
    assert (int(p["JOB_DEFAULT_LEASE_DURATION"]), int(p["SCHEDD_INTERVAL"])) == (600, 30)
    assert not p["ALLOW_ADVERTISE_STARTD"]          # only the collector decides that
    assert_secure(p, two_sites.pool.trust_domain)


def test_intervals_and_master_address_come_from_the_spec():
    text = GOOD.replace("  trust_domain: p1.example.org\n", "  trust_domain: p1.example.org\n"
                        "  negotiator_interval: 3\n  update_interval: 7\n  job_lease: 45\n")
    text = text.replace("master: {image: m:1,", "master: {address: 10.1.3.3, image: m:1,")
    spec = parse_spec(text)
    assert spec.master_address == "10.1.3.3" and spec.master_site.name == "alpha"
    m = condor_params(render_config(spec, Role.MASTER), [
        "CONDOR_HOST", "NEGOTIATOR_INTERVAL", "NEGOTIATOR_MIN_INTERVAL", "UPDATE_INTERVAL",
        "MASTER_UPDATE_INTERVAL"])
    assert m == {"CONDOR_HOST": "10.1.3.3", "NEGOTIATOR_INTERVAL": 3,
                 "NEGOTIATOR_MIN_INTERVAL": 3, "UPDATE_INTERVAL": 7, "MASTER_UPDATE_INTERVAL": 7}
    s = condor_params(render_config(spec, Role.SUBMITTER), ["JOB_DEFAULT_LEASE_DURATION"])
    assert int(s["JOB_DEFAULT_LEASE_DURATION"]) == 45


def test_executor_vacates_within_the_kill_grace_period(two_sites):
    p = condor_params(render_config(two_sites, Role.EXECUTOR, "dc"), [
        "MACHINE_MAX_VACATE_TIME", "MAXJOBRETIREMENTTIME", "STARTER_ALLOW_RUNAS_OWNER"])
    grace = two_sites.roles[Role.EXECUTOR].kill_grace_period_s
    assert 0 < int(p["MACHINE_MAX_VACATE_TIME"]) < grace
    # 0 (a Mesos kill vacates at once) but under the operator's drains (their jobs retire;
    # measured on real daemons: tests/test_real_pool_operator.py)
    assert p["MAXJOBRETIREMENTTIME"] == ('ifThenElse(MY.Draining =?= true && MY.DrainReason '
                                         '=?= "htcmesos-operator", 604800, 0)')
    assert str(p["STARTER_ALLOW_RUNAS_OWNER"]).lower() == "false"


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
    """HTCondor's own parser sees a bracketed IPv6 collector address (a real daemon
    resolves it in tests/executors/test_real_daemons.py)."""
    text = render_config(two_sites, Role.SUBMITTER, master_address="fd00::5")
    p = condor_params(text, ["CONDOR_HOST", "COLLECTOR_HOST"])
    assert p == {"CONDOR_HOST": "fd00::5", "COLLECTOR_HOST": "[fd00::5]:9618?sock=collector"}
    ex = condor_params(render_config(two_sites, Role.EXECUTOR, "campus", "fd00::5"),
                       ["CCB_ADDRESS"])
    assert ex["CCB_ADDRESS"] == "[fd00::5]:9618?sock=collector"


def test_an_executor_sized_to_jobs_starts_only_jobs_of_its_size(two_sites):
    """autoscaling.executor_size: jobs — the slot is the task's size and its START takes
    only jobs of that size (planner/packing.py ``takes``), evaluated by HTCondor's own
    ClassAd library against job ads."""
    import classad2
    from framework.planner.packing import takes
    site = site_of(two_sites, private=False)
    text = render_config(two_sites, Role.EXECUTOR, site, size=(2.0, 1280.0))
    p = condor_params(text, ["NUM_CPUS", "MEMORY", "START"])
    assert (p["NUM_CPUS"], int(p["MEMORY"])) == (2, 1280)
    start = classad2.ExprTree(str(p["START"]))
    for cpus, mem in ((2, 1280), (1.5, 1025), (1, 1280), (2, 1024), (3, 1280), (2, 1281)):
        machine = classad2.ClassAd({"Cpus": 2, "Memory": 1280})
        job = classad2.ClassAd({"RequestCpus": cpus, "RequestMemory": mem})
        assert start.simplify(machine, job).eval() is takes((2.0, 1280.0), cpus, mem), (
            cpus, mem, p["START"])
    # the slot size's executors have no such START
    assert "RequestCpus" not in str(condor_params(render_config(
        two_sites, Role.EXECUTOR, site), ["START"])["START"])


def test_a_private_startd_registers_with_ccb_itself_when_the_master_can_move(two_sites):
    """With discovery the startd keeps its own CCB registration (it follows a reconfig at
    once); without it, everything goes through the shared port server as before."""
    from tests.conftest import EXAMPLES
    text = (EXAMPLES / "two-sites.yaml").read_text() + (
        "\nnetwork:\n  discovery: {type: zookeeper, url: \"zk://127.0.0.1:2181/h/cm\"}\n")
    moving = parse_spec(text, "moving.yaml", EXAMPLES)
    names = ["STARTD.USE_SHARED_PORT", "USE_SHARED_PORT", "CCB_ADDRESS"]
    private = condor_params(render_config(moving, Role.EXECUTOR, "campus"), names)
    assert private["STARTD.USE_SHARED_PORT"] is False and private["USE_SHARED_PORT"] is True
    assert "10.1.0.2" in private["CCB_ADDRESS"]
    public = condor_params(render_config(moving, Role.EXECUTOR, "dc"), names)
    fixed = condor_params(render_config(two_sites, Role.EXECUTOR, "campus"), names)
    assert public["STARTD.USE_SHARED_PORT"] is None and fixed["STARTD.USE_SHARED_PORT"] is None
