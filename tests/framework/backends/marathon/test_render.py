"""The rendered group: structure per docs/marathon.md, no secret value, templates fresh."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from framework.backends.marathon.render import app_id, group_id, render_group
from framework.backends.marathon.secrets import role_files
from framework.backends.roleparts import role_environment
from framework.model import Role
from framework.spec import load_spec, parse_spec
from tests.conftest import EXAMPLES, ROOT
from tests.framework.test_spec_marathon import MARATHON

KEY = b"k3y-Bytes-0123456789abcdef-never-in-env"


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLES / "two-sites.yaml")


@pytest.fixture(scope="module")
def group(spec):
    return render_group(spec)


def apps(group):
    return {a["id"].rsplit("/", 1)[1]: a for a in group["apps"]}


def test_group_ids_and_apps(spec, group):
    assert group["id"] == "/htcondor/twosites" == group_id(spec)
    assert list(apps(group)) == ["master", "submitter", "executor-dc", "executor-campus"]
    assert app_id(spec, Role.EXECUTOR, "dc") == "/htcondor/twosites/executor-dc"
    assert app_id(spec, Role.MASTER) == "/htcondor/twosites/master"


def test_group_follows_the_spec_group_and_pool():
    spec = parse_spec(MARATHON.replace("url: http://127.0.0.1:8080",
                                       "url: http://m:8080\n    group: /prod/htc"),
                      "t.yaml", Path("/base"))
    g = render_group(spec)
    assert g["id"] == "/prod/htc/p1"
    assert {a["id"] for a in g["apps"]} == {"/prod/htc/p1/master", "/prod/htc/p1/submitter",
                                            "/prod/htc/p1/executor-alpha",
                                            "/prod/htc/p1/executor-beta"}
    beta = next(a for a in g["apps"] if a["id"].endswith("beta"))
    assert beta["constraints"] == [["@region", "CLUSTER", "eu"], ["@zone", "CLUSTER", "z1"]]


def test_constraints_instances_and_dependencies(group):
    a = apps(group)
    assert a["master"]["constraints"] == [["site", "CLUSTER", "dc"]]
    assert a["submitter"]["constraints"] == [["site", "CLUSTER", "dc"]]
    assert a["executor-dc"]["constraints"] == [["site", "CLUSTER", "dc"]]
    assert a["executor-campus"]["constraints"] == [["@region", "CLUSTER", "campus-east"]]
    assert [a[k]["instances"] for k in a] == [1, 1, 1, 0]     # executors: the sites' min
    assert "dependencies" not in a["master"]
    for name in ("submitter", "executor-dc", "executor-campus"):
        assert a[name]["dependencies"] == ["/htcondor/twosites/master"]


@pytest.mark.parametrize("name,net", [("master", "calico-dc"), ("submitter", "calico-dc"),
                                      ("executor-dc", "calico-dc"),
                                      ("executor-campus", "calico-campus")])
def test_networking_health_labels_strategies(group, name, net):
    app = apps(group)[name]
    role = name.split("-")[0]
    assert app["networks"] == [{"mode": "container", "name": net}]
    for old in ("ipAddress", "ports", "portDefinitions", "requirePorts"):
        assert old not in app
    c = app["container"]
    assert c["type"] == "DOCKER" and "network" not in c["docker"]
    assert c["docker"]["forcePullImage"] is False and c["docker"]["privileged"] is False
    assert c["docker"]["image"] == f"htcmesos/{role}:0.1"
    assert c["portMappings"] == [{"containerPort": 5000, "name": "health", "protocol": "tcp"}]
    [hc] = app["healthChecks"]
    assert (hc["protocol"], hc["path"], hc["portIndex"]) == ("MESOS_HTTP", "/health", 0)
    assert hc["maxConsecutiveFailures"] == 3 and hc["gracePeriodSeconds"] == 300
    assert app["labels"] == {"htcmesos.pool": "twosites", "htcmesos.role": role,
                             "htcmesos.site": name.split("-")[-1] if role == "executor"
                             else "dc"}
    assert app["args"] == [role]
    assert (app["backoffSeconds"], app["backoffFactor"], app["maxLaunchDelaySeconds"]) == \
        (1, 1.15, 300)
    if role == "executor":
        assert app["upgradeStrategy"] == {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.2}
        assert "unreachableStrategy" not in app
        assert c["volumes"] == [{"containerPath": "/cvmfs", "hostPath": "/cvmfs", "mode": "RO"}]
    else:
        assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
        assert app["unreachableStrategy"] == "disabled"


def test_master_has_its_fixed_address_and_file_limit(spec, group):
    params = apps(group)["master"]["container"]["docker"]["parameters"]
    assert {"key": "ip", "value": spec.master_address} in params
    assert any(p["key"] == "ulimit" and p["value"].startswith("nofile=") for p in params)
    for name in ("submitter", "executor-dc"):
        assert all(p["key"] != "ip" for p in apps(group)[name]["container"]["docker"]["parameters"])


def test_env_is_the_role_environment_and_secrets_are_references(spec, group):
    for name, app in apps(group).items():
        role = app["labels"]["htcmesos.role"]
        env = app["env"]
        assert env["HTCMESOS_ROLE"] == role and env["HTCMESOS_MASTER_ADDRESS"] == spec.master_address
        assert env["HTCMESOS_CREDENTIALS"] == {"secret": "credentials"}
        assert app["secrets"] == {"credentials": {"source": f"htcondor/twosites/{role}"}}
        config = base64.b64decode(env["HTCMESOS_CONDOR_CONFIG_B64"]).decode()
        assert "CONDOR_HOST" in config or role == "master"


def test_no_secret_value_anywhere_in_env(spec, group):
    """No env value holds the key, a token, the drain key or any base64 of them."""
    forbidden = [KEY, base64.b64encode(KEY)]
    for role in Role:
        for data in role_files(spec, role, KEY, 1_700_000_000.0).values():
            forbidden += [data, base64.b64encode(data)]
    for app in group["apps"]:
        for name, value in app["env"].items():
            if isinstance(value, dict):
                assert set(value) == {"secret"}, name
                continue
            raw = value.encode()
            decoded = base64.b64decode(raw) if name.endswith("_B64") else b""
            for secret in forbidden:
                assert secret not in raw and secret not in decoded, name
        site = app["labels"]["htcmesos.site"]
        role = Role(app["labels"]["htcmesos.role"])
        assert set(app["env"]) == set(role_environment(spec, role, site)) | {
            "HTCMESOS_CREDENTIALS"}     # framework mode's variables, plus the reference


def test_secrets_follow_the_spec_prefix():
    spec = parse_spec(MARATHON + "    secrets_prefix: vault/htc\n", "t.yaml", Path("/b"))
    sources = {a["secrets"]["credentials"]["source"] for a in render_group(spec)["apps"]}
    assert sources == {"vault/htc/master", "vault/htc/submitter", "vault/htc/executor"}


def test_committed_template_equals_a_fresh_render(group):
    """marathon_apps/two-sites.json is `htcmesos marathon render examples/two-sites.yaml`;
    regenerate it with that command when this fails."""
    committed = json.loads((ROOT / "marathon_apps" / "two-sites.json").read_text())
    assert committed == group


def test_fractional_seconds_round_up_to_marathons_whole_seconds():
    text = MARATHON.replace("image: e:1", "image: e:1\n    kill_grace_period: 7.5\n"
                            "    health_check: {interval: 0.5, timeout: 2.2, grace_period: 9.1}")
    spec = parse_spec(text, "t.yaml", Path("/b"))
    app = next(a for a in render_group(spec)["apps"] if a["id"].endswith("executor-alpha"))
    [hc] = app["healthChecks"]
    assert (hc["intervalSeconds"], hc["timeoutSeconds"], hc["gracePeriodSeconds"]) == (1, 3, 10)
    assert app["taskKillGracePeriodSeconds"] == 8


LEGACY_NETWORKING = ("ipAddress", "ports", "portDefinitions", "requirePorts")


@pytest.mark.parametrize("source", ["examples/one-site.yaml", "examples/two-sites.yaml",
                                    "framework/templates/demo.yaml"])
def test_every_rendered_app_passes_the_emulators_validation(source):
    """The strict emulator's validator (Marathon's rules) takes every app of every shipped
    spec, unchanged by normalization where we set a field, with 1.5+ networking only."""
    from framework.sim.marathon.validate import normalize_app

    spec = parse_spec((ROOT / source).read_text(), source, ROOT)
    for app in render_group(spec)["apps"]:
        normal = normalize_app(app)               # raises AppInvalid (422) otherwise
        assert not any(k in app for k in LEGACY_NETWORKING), app["id"]
        assert "network" not in app["container"]["docker"], app["id"]
        assert normal["networks"] == app["networks"] and normal["env"] == app["env"]
        assert normal["container"]["portMappings"][0]["containerPort"] == 5000
