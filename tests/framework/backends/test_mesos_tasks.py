"""TaskInfo for role tasks: Docker, USER network, labels, health check, no secret values."""
from __future__ import annotations

import base64

import pytest

from framework.backends.mesos_tasks import (KEY_MOUNT, build_task_info, new_task_id,
                                            parse_task_id)
from framework.model import Role
from framework.spec import load_spec
from tests.conftest import EXAMPLES
from tests.condor_parse import condor_params

SECRET = "never-in-a-taskinfo-0xC0FFEE"


@pytest.fixture
def spec(tmp_path):
    key = tmp_path / "secrets" / "pool-signing-key"
    key.parent.mkdir()
    key.write_text(SECRET)
    text = (EXAMPLES / "two-sites.yaml").read_text()
    (tmp_path / "spec.yaml").write_text(text)
    return load_spec(tmp_path / "spec.yaml")


def env_of(info):
    return {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}


def test_task_ids_round_trip():
    tid = new_task_id("twosites", Role.EXECUTOR, "campus")
    assert parse_task_id(tid, "twosites") == (Role.EXECUTOR, "campus")
    assert parse_task_id(tid, "otherpool") is None
    assert parse_task_id("random-task", "twosites") is None
    assert new_task_id("p", Role.MASTER, "dc") != new_task_id("p", Role.MASTER, "dc")


def test_executor_task_info(spec):
    info = build_task_info(spec, Role.EXECUTOR, "campus", "twosites.executor.campus.abcdef",
                           "agent-7", (), "10.1.0.5")
    assert info["task_id"] == {"value": "twosites.executor.campus.abcdef"}
    assert info["agent_id"] == {"value": "agent-7"}
    res = {r["name"]: r["scalar"]["value"] for r in info["resources"]}
    assert res == {"cpus": 8.0, "mem": 16384.0, "disk": 40960.0}
    assert info["command"]["shell"] is False
    c = info["container"]
    assert c["type"] == "DOCKER" and c["docker"]["network"] == "USER"
    assert c["docker"]["image"] == "htcmesos/executor:0.1"
    assert [n["name"] for n in c["network_infos"]] == ["calico-campus"]
    assert {"container_path": KEY_MOUNT, "host_path": str(spec.pool.signing_key_file),
            "mode": "RO"} in c["volumes"]
    assert {"container_path": "/cvmfs", "host_path": "/cvmfs", "mode": "RO"} in c["volumes"]
    labels = {l["key"]: l["value"] for l in info["labels"]["labels"]}
    assert labels == {"htcmesos.pool": "twosites", "htcmesos.role": "executor",
                      "htcmesos.site": "campus"}
    hc = info["health_check"]
    assert hc["type"] == "HTTP" and hc["http"] == {"port": 5000, "path": "/health"}
    assert info["kill_policy"]["grace_period"]["nanoseconds"] == 30 * 10**9
    env = env_of(info)
    assert env["HTCMESOS_MASTER_ADDRESS"] == "10.1.0.5"
    assert env["HTCMESOS_TASK_ID"] == "twosites.executor.campus.abcdef"
    config = base64.b64decode(env["HTCMESOS_CONDOR_CONFIG_B64"]).decode()
    p = condor_params(config, ["CCB_ADDRESS", "HTCMESOS_SITE"])
    assert p["CCB_ADDRESS"] == "10.1.0.5:9618?sock=collector" and p["HTCMESOS_SITE"] == '"campus"'


def test_master_gets_fd_ulimit_and_no_master_address(spec):
    info = build_task_info(spec, Role.MASTER, "dc", "twosites.master.dc.abcdef", "a1")
    params = info["container"]["docker"]["parameters"]
    assert {"key": "ulimit", "value": "nofile=10240:10240"} in params
    assert "HTCMESOS_MASTER_ADDRESS" not in env_of(info)


def test_host_ports_become_a_ports_resource(spec):
    info = build_task_info(spec, Role.SUBMITTER, "dc", "twosites.submitter.dc.abcdef", "a1",
                           ((31000, 31001),), "10.0.0.9")
    ports = [r for r in info["resources"] if r["name"] == "ports"]
    assert ports[0]["ranges"]["range"] == [{"begin": 31000, "end": 31001}]


def test_no_secret_value_anywhere_in_task_infos(spec):
    import json
    for role, site in [(Role.MASTER, "dc"), (Role.SUBMITTER, "dc"), (Role.EXECUTOR, "dc"),
                       (Role.EXECUTOR, "campus")]:
        info = build_task_info(spec, role, site, f"twosites.{role.value}.{site}.abcdef", "a",
                               (), "10.0.0.1")
        text = json.dumps(info)
        assert SECRET not in text
        assert SECRET not in base64.b64decode(env_of(info)["HTCMESOS_CONDOR_CONFIG_B64"]).decode()
