"""plan_apply: create, unchanged after Marathon's normalisation, image change, executor
instances kept, a removed site."""
from __future__ import annotations

import copy

import pytest

from framework.backends.marathon.apply import plan_apply
from framework.backends.marathon.render import render_group
from framework.spec import load_spec
from tests.conftest import EXAMPLES

G = "/htcondor/twosites"


@pytest.fixture(scope="module")
def desired():
    return render_group(load_spec(EXAMPLES / "two-sites.yaml"))


def as_marathon_stores(group: dict) -> dict:
    """The group as GET /v2/groups answers: defaults filled, read-only fields added."""
    out = copy.deepcopy(group)
    for app in out["apps"]:
        app.update(version="2026-01-01T00:00:00.000Z", tasksRunning=1, tasksHealthy=1,
                   tasksStaged=0, tasksUnhealthy=0, deployments=[], cmd=None, user=None,
                   executor="", fetch=[], killSelection="YOUNGEST_FIRST", cpus=float(app["cpus"]),
                   requirePorts=False, gpus=0, storeUrls=[], readinessChecks=[])
        app.setdefault("unreachableStrategy", {"inactiveAfterSeconds": 0,
                                               "expungeAfterSeconds": 0})
        app.setdefault("dependencies", [])
        for pm in app["container"]["portMappings"]:
            pm.update(servicePort=10101, labels={})
        for hc in app["healthChecks"]:
            hc.setdefault("delaySeconds", 15)
            hc.update(ipProtocol="IPv4")
        app["upgradeStrategy"] = {k: float(v) for k, v in app["upgradeStrategy"].items()}
    out["version"] = "2026-01-01T00:00:00.000Z"
    out["groups"], out["pods"] = [], []
    return out


def test_nothing_there_creates_the_group_and_every_app(desired):
    plan = plan_apply(desired, None)
    assert plan.create_group and plan.changed
    assert [(c.app_id, c.action) for c in plan.changes] == [
        (f"{G}/master", "create"), (f"{G}/submitter", "create"),
        (f"{G}/executor-dc", "create"), (f"{G}/executor-campus", "create")]
    assert plan.desired == desired
    assert plan.describe()[0] == f"+ {G}: new group"


def test_what_marathon_stores_compares_unchanged(desired):
    plan = plan_apply(desired, as_marathon_stores(desired))
    assert not plan.changed, plan.describe()
    assert {c.action for c in plan.changes} == {"unchanged"}


def test_image_change_is_one_readable_line(desired):
    current = as_marathon_stores(desired)
    want = copy.deepcopy(desired)
    want["apps"][2]["container"]["docker"]["image"] = "htcmesos/executor:0.2"
    plan = plan_apply(want, current)
    assert plan.describe() == [
        f"= {G}/master: unchanged", f"= {G}/submitter: unchanged",
        f"~ {G}/executor-dc: container.docker.image: htcmesos/executor:0.1 → "
        f"htcmesos/executor:0.2",
        f"= {G}/executor-campus: unchanged"]


def test_executor_instances_stay_the_autoscalers_unless_below_min(desired):
    current = as_marathon_stores(desired)
    current["apps"][2]["instances"] = 7            # executor-dc: raised by the autoscaler
    plan = plan_apply(desired, current)
    assert not plan.changed
    assert plan.desired["apps"][2]["instances"] == 7
    current["apps"][2]["instances"] = 0            # below the site's min (1)
    plan = plan_apply(desired, current)
    assert plan.describe()[2] == f"~ {G}/executor-dc: instances: 0 → 1"
    assert plan.desired["apps"][2]["instances"] == 1
    current["apps"][0]["instances"] = 0            # the master is always one
    assert f"~ {G}/master: instances: 0 → 1" in plan_apply(desired, current).describe()


def test_removed_site_and_env_changes(desired):
    current = as_marathon_stores(desired)
    want = copy.deepcopy(desired)
    del want["apps"][3]                           # campus left the spec
    want["apps"][1]["env"]["HTCMESOS_UPDATE_INTERVAL"] = "60"
    del want["apps"][1]["env"]["HTCMESOS_HEALTH_TIMEOUT"]
    plan = plan_apply(want, current)
    lines = plan.describe()
    assert f"- {G}/executor-campus: no longer in the spec" in lines
    assert f"~ {G}/submitter: env.HTCMESOS_UPDATE_INTERVAL: 30 → 60" in lines
    assert f"~ {G}/submitter: env.HTCMESOS_HEALTH_TIMEOUT: 6 → (removed)" in lines
    assert [a["id"] for a in plan.desired["apps"]] == [f"{G}/master", f"{G}/submitter",
                                                       f"{G}/executor-dc"]


def test_long_values_are_shortened_in_the_diff(desired):
    current = as_marathon_stores(desired)
    want = copy.deepcopy(desired)
    want["apps"][0]["env"]["HTCMESOS_CONDOR_CONFIG_B64"] += "QUJD"
    [line] = [x for x in plan_apply(want, current).describe() if x.startswith("~")]
    assert line.startswith(f"~ {G}/master: env.HTCMESOS_CONDOR_CONFIG_B64: ")
    assert "chars)" in line and len(line) < 220
