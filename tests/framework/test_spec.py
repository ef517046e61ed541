"""Cluster spec validation: every problem with its YAML path and line, all in one run."""
from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from framework.errors import SpecError
from framework.model import Role
from framework.spec import load_spec, parse_spec

GOOD = textwrap.dedent("""\
    pool:
      name: p1
      trust_domain: p1.example.org
      signing_key_file: keys/pool
    sites:
      - name: alpha
        calico: {network: calico-a, cidr: 10.1.0.0/16}
        executors: {min: 1, max: 5}
      - name: beta
        agents: {region: eu, zone: z1}
        private: true
        calico: {network: calico-b, cidr: 10.2.0.0/16}
        executors: {min: 0, max: 7}
    roles:
      master: {image: m:1, cpus: 1, mem: 512}
      submitter: {image: s:1, cpus: 0.5, mem: 1024, disk: 2048}
      executor:
        image: e:1
        cpus: 4
        mem: 8192
    backend:
      type: sim
    """)


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "t.yaml", Path("/base"))
    return [(p.path, p.line, p.message) for p in info.value.problems]


def paths(text: str) -> list[str]:
    return [p for p, _, _ in problems(text)]


def test_good_spec_builds_typed_objects():
    spec = parse_spec(GOOD, "t.yaml", Path("/base"))
    assert spec.pool.signing_key_file == Path("/base/keys/pool")
    assert [s.name for s in spec.sites] == ["alpha", "beta"]
    alpha, beta = spec.sites
    assert alpha.agents.attribute == ("site", "alpha") and not alpha.private
    assert (beta.agents.region, beta.agents.zone, beta.private) == ("eu", "z1", True)
    assert beta.cidr == ipaddress.ip_network("10.2.0.0/16")
    assert spec.roles[Role.SUBMITTER].cpus == 0.5
    assert spec.roles[Role.SUBMITTER].disk_mb == 2048
    assert spec.roles[Role.MASTER].disk_mb == 1024           # default
    assert spec.roles[Role.EXECUTOR].jobs_per_executor == 4  # whole cores
    # autoscaling defaults come from the sites
    assert (spec.autoscaling.min_executors, spec.autoscaling.max_executors) == (1, 12)
    assert spec.executors_max == 12
    assert spec.backend.type == "sim" and spec.backend.mesos is None


@pytest.mark.parametrize("name", ["two-sites.yaml", "one-site.yaml"])
def test_examples_are_valid(examples, name):
    spec = load_spec(examples / name)
    assert spec.sites and set(spec.roles) == set(Role)


def test_two_sites_example_has_one_public_and_one_private_site(examples):
    spec = load_spec(examples / "two-sites.yaml")
    assert sorted(s.private for s in spec.sites) == [False, True]


def test_acceptance_misspelt_key_negative_cpus_min_gt_max_all_reported():
    text = GOOD.replace("private: true", "privat: true").replace("cpus: 4", "cpus: -4") \
               .replace("{min: 0, max: 7}", "{min: 9, max: 7}")
    assert problems(text) == [
        ("sites[1].privat", 11, "unknown key 'privat'; did you mean 'private'? valid keys "
                                "here: name, agents, private, calico, executors, nat_address"),
        ("sites[1].executors.min", 13, "min (9) > max (7); min must be ≤ max"),
        ("roles.executor.cpus", 19, "must be positive (> 0) (cores); got -4"),
    ]


def test_report_names_file_line_and_path():
    with pytest.raises(SpecError) as info:
        parse_spec(GOOD.replace("mem: 512", "mem: 0"), "my.yaml")
    assert "my.yaml:15: roles.master.mem: must be positive (> 0) (MiB); got 0" in str(info.value)


@pytest.mark.parametrize("old,new,path,line,words", [
    ("cpus: 1, mem: 512", "cpus: one, mem: 512", "roles.master.cpus", 15, "must be a number"),
    ("cpus: 1, mem: 512", "cpus: true, mem: 512", "roles.master.cpus", 15, "a boolean"),
    ("mem: 8192", "mem: .nan", "roles.executor.mem", 20, "must be a number"),
    ("cpus: 4", "cpus: 0.5", "roles.executor.cpus", 19, "at least 1 core"),
    ("name: beta", "name: alpha", "sites[1].name", 9, "duplicate site name 'alpha'"),
    ("cidr: 10.2.0.0/16", "cidr: 10.1.128.0/17", "sites[1].calico.cidr", 12, "overlaps sites[0]"),
    ("cidr: 10.2.0.0/16", "cidr: 10.2.0.1/16", "sites[1].calico.cidr", 12, "not a network"),
    ("cidr: 10.2.0.0/16", "cidr: banana", "sites[1].calico.cidr", 12, "CIDR form"),
    ("name: p1", "name: P_1", "pool.name", 2, "is not valid"),
    ("private: true", "private: yes please", "sites[1].private", 11, "true or false"),
    ("type: sim", "type: kubernetes", "backend.type", 22, "one of mesos, marathon, sim"),
    ("type: sim", "type: mesos", "backend", 21, "no 'mesos' block"),
    ("{region: eu, zone: z1}", "{zone: z1}", "sites[1].agents", 10, "'zone' needs 'region'"),
    ("{region: eu, zone: z1}", "{attribute: site}", "sites[1].agents.attribute", 10,
     "must be name:value"),
    ("{region: eu, zone: z1}", "{attribute: 'a:b', region: eu}", "sites[1].agents", 10,
     "not both"),
    ("{region: eu, zone: z1}", "{attribute: 'site:alpha'}", "sites[1].agents", 10,
     "same as sites[0]"),
    ("image: m:1", "image: 'm 1'", "roles.master.image", 15, "Docker image"),
    ("mem: 8192", "mem: 8192\n    jobs_per_executor: 0", "roles.executor.jobs_per_executor",
     21, "≥ 1"),
    ("cpus: 0.5, mem: 1024", "cpus: 0.5, mem: 1024, jobs_per_executor: 2",
     "roles.submitter.jobs_per_executor", 16, "unknown key"),
    ("master: {image: m:1,", "master: {address: 10.2.0.9, image: m:1,", "roles.master.address",
     15, "private site beta's pool"),
    ("master: {image: m:1,", "master: {address: 10.9.0.9, image: m:1,", "roles.master.address",
     15, "in no site's Calico pool"),
    ("master: {image: m:1,", "master: {address: 10.1.0.0, image: m:1,", "roles.master.address",
     15, "network or broadcast"),
    ("master: {image: m:1,", "master: {address: ten, image: m:1,", "roles.master.address",
     15, "not an IP address"),
    ("cpus: 0.5, mem: 1024", "cpus: 0.5, mem: 1024, address: 10.1.0.9",
     "roles.submitter.address", 16, "unknown key"),
    ("signing_key_file: keys/pool", "signing_key_file: keys/pool\n  job_lease: 5",
     "pool.job_lease", 5, "≥ 20"),
    ("signing_key_file: keys/pool", "signing_key_file: keys/pool\n  negotiator_interval: 0",
     "pool.negotiator_interval", 5, "≥ 1"),
    ("calico: {network: calico-a, cidr: 10.1.0.0/16}",
     "calico: {network: calico-a, cidr: 10.1.0.0/30}", "roles.master.address", 15,
     "too small"),
])
def test_single_problem_is_named_with_path_and_line(old, new, path, line, words):
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert len(found) == 1, found
    assert found[0][:2] == (path, line)
    assert words in found[0][2]


def test_master_address_defaults_to_the_first_public_pool():
    spec = parse_spec(GOOD)
    assert (spec.master_address, spec.master_site.name) == ("10.1.0.2", "alpha")
    assert spec.pool.negotiator_interval_s == 10 and spec.pool.update_interval_s == 30
    assert spec.pool.job_lease_s == 600


def test_every_site_private_has_no_place_for_the_central_manager():
    text = GOOD.replace("executors: {min: 1, max: 5}", "private: true\n    executors: {min: 1, max: 5}")
    assert [p for p, _, m in problems(text) if "needs a public site" in m] == ["sites"]


def test_credential_server_block():
    mesos = ("type: mesos\n  mesos:\n    master: http://m:5050\n    credential_server: "
             "{listen: '0.0.0.0:5052', url: 'https://fw.example.org:5052'}\n")
    spec = parse_spec(GOOD.replace("type: sim\n", mesos))
    assert spec.backend.mesos.credential_listen == "0.0.0.0:5052"
    assert spec.backend.mesos.credential_url == "https://fw.example.org:5052"
    bad = mesos.replace("'0.0.0.0:5052'", "'nowhere'").replace("https://fw", "ftp://fw")
    assert {p for p, _, _ in problems(GOOD.replace("type: sim\n", bad))} == {
        "backend.mesos.credential_server.listen", "backend.mesos.credential_server.url"}
    assert parse_spec(GOOD.replace("type: sim\n", "type: mesos\n  mesos: {master: "
                                   "'http://m:5050'}\n")).backend.mesos.credential_listen \
        == "0.0.0.0:0"


def test_missing_roles_and_blocks():
    text = "\n".join(GOOD.splitlines()[:13]) + "\nroles:\n  master: {image: m, cpus: 1, mem: 1}\n"
    assert problems(text) == [
        ("", 1, "missing required key 'backend'"),
        ("roles", 14, "missing required key 'submitter'"),
        ("roles", 14, "missing required key 'executor'"),
    ]


def test_autoscaling_min_gt_max_and_unknown_key():
    text = GOOD + "autoscaling: {min_executors: 9, max_executors: 3, tik: 5}\n"
    assert paths(text) == ["autoscaling.min_executors", "autoscaling.tik"]


def test_autoscaling_min_beyond_sites():
    text = GOOD + "autoscaling: {min_executors: 13, max_executors: 20}\n"
    assert problems(text) == [("autoscaling.min_executors", 23,
                               "min_executors (13) exceeds the sites' combined "
                               "executors.max (12)")]


def test_yaml_syntax_error_has_line():
    found = problems(GOOD.replace("name: beta", "name: [beta"))
    assert len(found) == 1 and found[0][0] == "" and found[0][2].startswith("YAML syntax error")
    assert found[0][1] in (9, 10)


def test_duplicate_key_is_an_error():
    assert problems(GOOD + "pool: {}\n")[0] == (
        "pool", 23, "duplicate key 'pool' (first at line 1); remove one")


@pytest.mark.parametrize("text,message", [
    ("", "the spec is empty"),
    ("- a\n- b\n", "must be a mapping"),
    ("just text", "must be a mapping"),
])
def test_not_a_spec(text, message):
    found = problems(text)
    assert len(found) == 1 and message in found[0][2]


def test_extra_condor_config_rules():
    text = GOOD.replace("mem: 8192", "mem: 8192\n    condor_config: {ALLOW_WRITE: '*', "
                        "CCB_ADDRESS: x, 'BAD KNOB': 1, OK_KNOB: 3, LIST: [1]}")
    found = problems(text)
    assert [p for p, _, _ in found] == ["roles.executor.condor_config.ALLOW_WRITE",
                                        "roles.executor.condor_config.BAD KNOB",
                                        "roles.executor.condor_config.CCB_ADDRESS",
                                        "roles.executor.condor_config.LIST"]
    assert "would let anyone in" in found[0][2]
    assert "set by htcmesos" in found[2][2]


def test_volumes_docker_parameters_health_check():
    text = GOOD.replace("mem: 8192", """mem: 8192
    volumes:
      - {container_path: /cvmfs, host_path: /cvmfs}
      - {container_path: data, host_path: /d, mode: rw}
    docker_parameters:
      - {key: ulimit, value: "nofile=1024"}
      - {key: --net, value: host}
    health_check: {port: 70000, interval: 0}""")
    assert paths(text) == ["roles.executor.volumes[1].container_path",
                           "roles.executor.volumes[1].mode",
                           "roles.executor.docker_parameters[1].key",
                           "roles.executor.health_check.interval",
                           "roles.executor.health_check.port"]


def test_mesos_backend_block():
    text = GOOD.replace("type: sim", """type: mesos
  mesos:
    master: zk://z1:2181,z2:2181/mesos
    principal: fw
    secret_file: /etc/htcmesos/mesos-secret
    failover_timeout: 3600""")
    mesos = parse_spec(text).backend.mesos
    assert mesos.master == "zk://z1:2181,z2:2181/mesos" and mesos.principal == "fw"
    assert mesos.secret_file == Path("/etc/htcmesos/mesos-secret")
    assert mesos.failover_timeout_s == 3600
    # unreachable central tasks are never replaced unless the operator says after how long
    assert mesos.replace_unreachable_master_s is None
    assert mesos.replace_unreachable_submitter_s is None
    text = text.replace("failover_timeout: 3600", "replace_unreachable: {master: 900, "
                                                  "submitter: never}")
    mesos = parse_spec(text).backend.mesos
    assert mesos.replace_unreachable_master_s == 900
    assert mesos.replace_unreachable_submitter_s is None


@pytest.mark.parametrize("block,path", [
    ("{master: 'mesos-master:5050'}", "backend.mesos.master"),
    ("{master: 'zk://z1:2181'}", "backend.mesos.master"),
    ("{master: 'http://m:5050', secret_file: s}", "backend.mesos"),
    ("{master: 'http://m:5050', failover_timeout: -1}", "backend.mesos.failover_timeout"),
    ("{master: 'http://m:5050', replace_unreachable: {master: soon}}",
     "backend.mesos.replace_unreachable.master"),
    ("{master: 'http://m:5050', replace_unreachable: {master: 0}}",
     "backend.mesos.replace_unreachable.master"),
    ("{master: 'http://m:5050', replace_unreachable: {executor: 5}}",
     "backend.mesos.replace_unreachable.executor"),
])
def test_mesos_backend_errors(block, path):
    assert paths(GOOD.replace("type: sim", f"type: mesos\n  mesos: {block}")) == [path]


def test_many_problems_reported_together():
    text = GOOD.replace("name: p1", "name: 1p").replace("cpus: 1,", "cpus: 0,") \
        .replace("cidr: 10.2.0.0/16", "cidr: 10.1.0.0/16").replace("type: sim", "tipe: sim")
    assert len(problems(text)) == 5


def test_unreadable_spec_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert "cannot read spec" in str(info.value)
