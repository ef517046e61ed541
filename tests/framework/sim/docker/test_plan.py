"""TaskInfo → container plan translation of the Docker runner (pure: no engine needed)."""
from __future__ import annotations

import base64
from pathlib import Path

import docker.types
import pytest

from framework.sim.docker.runner import (SANDBOX, HealthCheck, LaunchError, PARAMETERS,
                                         plan_container)

SANDBOX_DIR = Path("/tmp/sbx")


def info(**container_extra) -> dict:
    docker_info = {"image": "img:1", "network": "USER", **container_extra.pop("docker", {})}
    base = {"task_id": {"value": "t-1"},
            "command": container_extra.pop("command", {"shell": False, "arguments": ["a", "b"]}),
            "container": {"type": "DOCKER", "docker": docker_info,
                          "network_infos": [{"name": "calico-a"}], **container_extra}}
    return base


def plan(task_info: dict, **kw):
    return plan_container(task_info, name="c-1", labels={"htcmesos.emulator": "1"},
                          sandbox=SANDBOX_DIR, **kw)


def test_shell_false_keeps_entrypoint_and_passes_value_then_arguments():
    p = plan(info(command={"shell": False, "value": "prog", "arguments": ["-x", "1"]}))
    assert p.kwargs["command"] == ["prog", "-x", "1"] and "entrypoint" not in p.kwargs
    assert p.network_mode == "user" and p.user_network == "calico-a"


def test_shell_true_runs_sh_c_value():
    p = plan(info(command={"value": "echo hi && sleep 1"}))          # shell defaults to true
    assert p.kwargs["entrypoint"] == ["/bin/sh"]
    assert p.kwargs["command"] == ["-c", "echo hi && sleep 1"]


def test_environment_volumes_sandbox_labels_and_image_map():
    secret = base64.b64encode(b"s3cret").decode()
    t = info(volumes=[{"container_path": "/data", "host_path": "/srv/d", "mode": "RO"},
                      {"container_path": "rel", "host_path": "work", "mode": "RW"}])
    t["command"]["environment"] = {"variables": [
        {"name": "A", "value": "1"},
        {"name": "S", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": secret}}}]}
    t["labels"] = {"labels": [{"key": "role", "value": "executor"},
                              {"key": "htcmesos.emulator", "value": "0"}]}
    p = plan(t, image_map={"img:1": "local:2"}, extra_volumes=("/usr:/usr:ro",))
    assert p.image == "local:2"
    env = p.kwargs["environment"]
    assert env["A"] == "1" and env["S"] == "s3cret" and env["MESOS_SANDBOX"] == SANDBOX
    assert env["MESOS_TASK_ID"] == "t-1"
    assert p.kwargs["volumes"] == [f"{SANDBOX_DIR}:{SANDBOX}:rw", "/usr:/usr:ro",
                                   "/srv/d:/data:ro", f"{SANDBOX_DIR}/work:{SANDBOX}/rel:rw"]
    assert p.kwargs["labels"] == {"role": "executor", "htcmesos.emulator": "1"}


def test_resources_become_limits():
    t = info()
    t["resources"] = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 256}}]
    p = plan(t)
    assert p.kwargs["cpu_shares"] == 512 and p.kwargs["mem_limit"] == "256m"
    assert "mem_limit" not in plan(t, apply_limits=False).kwargs


def test_docker_parameters_map_to_sdk_keywords():
    params = [("volume", "/h:/c:ro"), ("env", "E=v=w"), ("label", "k=v"),
              ("ulimit", "nofile=10:20"), ("cap-add", "NET_ADMIN"), ("--cap-drop", "MKNOD"),
              ("user", "nobody"), ("add-host", "cm:10.0.0.1"), ("sysctl", "net.core.somaxconn=1024"),
              ("init", "true"), ("network-alias", "cm"), ("ip", "10.1.0.9"), ("e", "F=1")]
    p = plan(info(docker={"parameters": [{"key": k, "value": v} for k, v in params]}))
    kw = p.kwargs
    assert "/h:/c:ro" in kw["volumes"]
    assert kw["environment"]["E"] == "v=w" and kw["environment"]["F"] == "1"
    assert kw["labels"]["k"] == "v"
    assert kw["ulimits"] == [docker.types.Ulimit(name="nofile", soft=10, hard=20)]
    assert kw["cap_add"] == ["NET_ADMIN"] and kw["cap_drop"] == ["MKNOD"]
    assert kw["user"] == "nobody" and kw["extra_hosts"] == {"cm": "10.0.0.1"}
    assert kw["sysctls"] == {"net.core.somaxconn": "1024"} and kw["init"] is True
    assert p.ipv4_address == "10.1.0.9" and p.aliases == ("cm",)
    assert "_ip" not in kw and "_aliases" not in kw


@pytest.mark.parametrize("key,value,needle", [
    ("frobnicate", "1", "'frobnicate'"),
    ("ulimit", "nofile", "'ulimit'"),
    ("env", "NOVALUE", "'env'"),
    ("volume", "relative", "'volume'"),
    ("init", "maybe", "'init'"),
])
def test_bad_docker_parameters_raise_launch_error_naming_them(key, value, needle):
    with pytest.raises(LaunchError, match=needle):
        plan(info(docker={"parameters": [{"key": key, "value": value}]}))


@pytest.mark.parametrize("mutate,needle", [
    (lambda t: t["container"].update(type="MESOS"), "not DOCKER"),
    (lambda t: t["container"]["docker"].pop("image"), "image"),
    (lambda t: t["container"].update(network_infos=[]), "network_infos"),
    (lambda t: t.update(command={"shell": True}), "command.value"),
    (lambda t: t["container"]["docker"].update(network="OVERLAY"), "OVERLAY"),
])
def test_invalid_task_infos_raise_launch_error(mutate, needle):
    t = info()
    mutate(t)
    with pytest.raises(LaunchError, match=needle):
        plan(t)


def test_bridge_network_publishes_port_mappings_on_loopback_only():
    p = plan(info(docker={"network": "BRIDGE",
                          "port_mappings": [{"host_port": 31000, "container_port": 9618}]}))
    assert p.network_mode == "bridge" and p.kwargs["network_mode"] == "bridge"
    assert p.kwargs["ports"] == {"9618/tcp": ("127.0.0.1", 31000)}


def test_health_check_parsing_and_defaults():
    hc = HealthCheck.parse({"type": "HTTP", "http": {"port": 8080, "path": "/h"}})
    assert (hc.kind, hc.port, hc.path) == ("HTTP", 8080, "/h")
    assert (hc.delay_s, hc.interval_s, hc.timeout_s, hc.max_failures, hc.grace_s) == (15, 10, 20, 3, 10)
    cmd = HealthCheck.parse({"type": "COMMAND", "command": {"value": "true"}, "interval_seconds": 2})
    assert cmd.argv == ("sh", "-c", "true") and cmd.interval_s == 2
    assert HealthCheck.parse({"type": "TCP", "tcp": {"port": 9618}}).port == 9618
    with pytest.raises(LaunchError):
        HealthCheck.parse({"type": "GRPC"})


def test_parameter_table_covers_the_required_keys():
    assert {"volume", "env", "label", "ulimit", "cap-add"} <= set(PARAMETERS)


def test_container_names_are_host_names_docker_dns_can_answer():
    from framework.sim.docker.tasks import host_name
    # framework mode's names are left alone
    name = "htcm-b373f4cd29-6513270e-269e-4d37-b-87417ac1-twosites.submitter.dc.7817795d26b6"
    assert host_name(name) == name
    # a Marathon task id: underscores and a label over 63 characters
    long = ("htcm-1ddd56d37a-6513270e-269e-4d37-b-87417ac1-htcondor_twosites_submitter"
            ".instance-78e51061-7311-48a3-82ce-6a40162f")
    out = host_name(long)
    labels = out.split(".")
    assert "_" not in out and all(0 < len(label) <= 63 for label in labels)
    assert labels[0].startswith("htcm-1ddd56d37a-6513270e-269e-4d37-b-87417ac1-htcondor-")
    assert labels[1] == "instance-78e51061-7311-48a3-82ce-6a40162f"
    assert host_name(long) == out and host_name(long + "x") != out   # stable, distinct
