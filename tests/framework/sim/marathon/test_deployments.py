"""Deployments on the emulated cluster: locks, groups with dependencies, rolling
upgrades, scale-down by task ids, back-off, secrets, tasks JSON."""
from __future__ import annotations

import base64
import json

import requests

from tests.framework.sim.marathon.conftest import deployed, docker_app, healthy_tasks
from tests.waiting import wait_for


def test_tasks_listing_and_secret(marathon, cluster):
    app = docker_app("/htc/p1/master", secrets={"credentials": {"source": "htcondor/p1/master"}},
                     env={"HTCMESOS_ROLE": "master", "HTCMESOS_CREDENTIALS": {"secret": "credentials"}},
                     labels={"htcmesos.role": "master"})
    r = requests.post(marathon.url + "/v2/apps", json=app)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith("/v2/apps/htc/p1/master")
    deployed(marathon)
    [task] = marathon.tasks("/htc/p1/master")
    assert task["state"] == "TASK_RUNNING" and task["appId"] == "/htc/p1/master"
    assert task["id"].startswith("htc_p1_master.instance-") and task["id"].endswith("._app.1")
    assert task["ipAddresses"][0]["ipAddress"].startswith("10.1.")
    assert task["ipAddresses"][0]["protocol"] == "IPv4"
    assert task["startedAt"].endswith("Z") and task["stagedAt"].endswith("Z")
    [hc] = task["healthCheckResults"]
    assert hc["alive"] is True and hc["consecutiveFailures"] == 0 and hc["firstSuccess"]
    got = requests.get(marathon.url + "/v2/apps/htc/p1/master").json()["app"]
    assert (got["tasksRunning"], got["tasksHealthy"], got["tasksUnhealthy"]) == (1, 1, 0)
    # the TaskInfo Mesos received
    fid = marathon.scheduler.framework_id
    info = cluster.frameworks[fid].tasks[task["id"]].info
    assert info["name"] == "master"
    assert info["container"]["docker"]["network"] == "USER"
    assert info["container"]["network_infos"][0]["name"] == "calico-dc"
    assert info["health_check"]["type"] == "HTTP" and info["health_check"]["http"] == {
        "port": 5000, "path": "/health"}
    assert info["labels"] == {"labels": [{"key": "htcmesos.role", "value": "master"}]}
    variables = {v["name"]: v for v in info["command"]["environment"]["variables"]}
    assert variables["HTCMESOS_ROLE"] == {"name": "HTCMESOS_ROLE", "type": "VALUE", "value": "master"}
    secret = variables["HTCMESOS_CREDENTIALS"]
    assert secret["type"] == "SECRET" and secret["secret"]["type"] == "VALUE"
    assert json.loads(base64.b64decode(secret["secret"]["value"]["data"])) == {"passwords/POOL": "cG9vbA=="}
    assert info["command"] == {"shell": False, "environment": info["command"]["environment"]}


def test_missing_secret_fails_the_launch(marathon):
    app = docker_app("/htc/p2/master", secrets={"c": {"source": "htcondor/p2/master"}},
                     env={"X": {"secret": "c"}})
    assert requests.post(marathon.url + "/v2/apps", json=app).status_code == 201
    failure = wait_for(lambda: marathon.app("/htc/p2/master").get("lastTaskFailure"), 10,
                       "a failed launch")
    assert failure["state"] == "TASK_FAILED" and "htcondor/p2/master" in failure["message"]
    assert marathon.tasks("/htc/p2/master") == []


def test_lock_409_and_force(marathon, cluster):
    cluster.runner.set_start_delay("dc", 0.5, 0.5)      # the deployment stays open a while
    assert requests.post(marathon.url + "/v2/apps", json=docker_app("/lock/a", 2)).status_code == 201
    [dep] = requests.get(marathon.url + "/v2/deployments").json()
    assert dep["affectedApps"] == ["/lock/a"] and dep["totalSteps"] == 1
    assert dep["steps"] == [{"actions": [{"action": "StartApplication", "app": "/lock/a"}]}]
    r = requests.put(marathon.url + "/v2/apps/lock/a", json={"instances": 3})
    assert r.status_code == 409
    assert r.json() == {
        "message": "App is locked by one or more deployments. Override with the option "
                   f"'?force=true'. View details at '/v2/deployments/{dep['id']}'.",
        "deployments": [{"id": dep["id"]}]}
    assert marathon.app("/lock/a")["instances"] == 2
    r = requests.put(marathon.url + "/v2/apps/lock/a?force=true", json={"instances": 3})
    assert r.status_code == 200
    deps = requests.get(marathon.url + "/v2/deployments").json()
    assert [d["id"] for d in deps] == [r.json()["deploymentId"]]
    failed = [e for e in marathon.events() if e["eventType"] == "deployment_failed"]
    assert [e["id"] for e in failed] == [dep["id"]]
    deployed(marathon)
    assert len(healthy_tasks(marathon, "/lock/a")) == 3


def test_group_dependencies_start_master_first(marathon, cluster):
    cluster.runner.set_start_delay("dc", 0.1, 0.2)
    group = {"id": "/htc/pool", "apps": [
        docker_app("master"),
        docker_app("submitter", dependencies=["master"]),
        docker_app("executor-dc", 2, dependencies=["master"]),
    ]}
    r = requests.post(marathon.url + "/v2/groups", json=group)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"version", "deploymentId"}
    [dep] = requests.get(marathon.url + "/v2/deployments").json()
    assert dep["steps"] == [
        {"actions": [{"action": "StartApplication", "app": "/htc/pool/master"}]},
        {"actions": [{"action": "StartApplication", "app": "/htc/pool/executor-dc"},
                     {"action": "StartApplication", "app": "/htc/pool/submitter"}]}]
    deployed(marathon)
    events = marathon.events()
    master_ok = next(i for i, e in enumerate(events) if e["eventType"] == "health_status_changed_event"
                     and e["appId"] == "/htc/pool/master" and e["alive"])
    first_other = next(i for i, e in enumerate(events) if e["eventType"] == "status_update_event"
                       and e["appId"] != "/htc/pool/master")
    assert master_ok < first_other
    g = requests.get(marathon.url + "/v2/groups/htc/pool").json()
    assert g["id"] == "/htc/pool" and len(g["apps"]) == 3
    assert marathon.app("/htc/pool/submitter")["dependencies"] == ["/htc/pool/master"]
    assert requests.post(marathon.url + "/v2/groups", json=group).status_code == 409
    # a PUT listing only the master removes the others
    r = requests.put(marathon.url + "/v2/groups/htc/pool", json={"apps": [docker_app("master")]})
    assert r.status_code == 200, r.text
    deployed(marathon)
    assert [a["id"] for a in requests.get(marathon.url + "/v2/groups/htc/pool").json()["apps"]] == [
        "/htc/pool/master"]
    assert marathon.tasks("/htc/pool/executor-dc") == []


def test_scale_down_by_task_ids(marathon):
    assert requests.post(marathon.url + "/v2/apps", json=docker_app("/x/exec", 4)).status_code == 201
    deployed(marathon)
    tasks = marathon.tasks("/x/exec")
    victims = sorted(t["id"] for t in tasks)[:2]
    r = requests.post(marathon.url + "/v2/tasks/delete?scale=true", json={"ids": victims})
    assert r.status_code == 200 and set(r.json()) == {"version", "deploymentId"}
    assert marathon.app("/x/exec")["instances"] == 2
    deployed(marathon)
    left = {t["id"] for t in marathon.tasks("/x/exec")}
    assert left == {t["id"] for t in tasks} - set(victims)
    kills = [e for e in marathon.events() if e["eventType"] == "status_update_event"
             and e["taskStatus"] == "TASK_KILLED"]
    assert sorted(e["taskId"] for e in kills) == victims


def test_failed_task_relaunched_with_backoff(marathon, cluster):
    cluster.runner.fail_at_launch("dc", count=2)
    app = docker_app("/x/flaky", backoffSeconds=1, backoffFactor=1.5)
    assert requests.post(marathon.url + "/v2/apps", json=app).status_code == 201
    deployed(marathon, timeout=20)
    events = [e for e in marathon.events() if e["eventType"] == "status_update_event"
              and e["appId"] == "/x/flaky"]
    failed = [e for e in events if e["taskStatus"] == "TASK_FAILED"]
    assert len(failed) == 2
    staged = {}
    for e in events:
        staged.setdefault(e["taskId"], e["timestamp"])
    from datetime import datetime

    def t(s: str) -> float:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
    order = sorted(staged, key=lambda k: staged[k])
    assert len(order) == 3
    # 1 s after the first failure, 1.5 s after the second
    first_fail = t(failed[0]["timestamp"])
    second_fail = t(failed[1]["timestamp"])
    assert t(staged[order[1]]) - first_fail >= 0.9
    assert t(staged[order[2]]) - second_fail >= 1.4
    assert marathon.app("/x/flaky")["lastTaskFailure"]["state"] == "TASK_FAILED"


def test_rolling_upgrade_keeps_capacity(marathon, cluster):
    app = docker_app("/x/roll", 4, upgradeStrategy={"minimumHealthCapacity": 1,
                                                    "maximumOverCapacity": 0.25})
    assert requests.post(marathon.url + "/v2/apps", json=app).status_code == 201
    deployed(marathon)
    old = {t["id"] for t in marathon.tasks("/x/roll")}
    cluster.runner.set_start_delay("dc", 0.05, 0.1)
    r = requests.put(marathon.url + "/v2/apps/x/roll", json={"env": {"NEW": "1"}})
    assert r.status_code == 200
    [dep] = requests.get(marathon.url + "/v2/deployments").json()
    assert dep["steps"] == [{"actions": [{"action": "RestartApplication", "app": "/x/roll"}]}]
    deployed(marathon)
    tasks = marathon.tasks("/x/roll")
    assert len(tasks) == 4 and not old & {t["id"] for t in tasks}
    assert {t["version"] for t in tasks} == {r.json()["version"]}
    assert marathon.min_healthy_during_deployment("/x/roll") == 4


def test_event_stream(marathon):
    url = marathon.url + "/v2/events?event_type=status_update_event&event_type=event_stream_attached"
    with requests.get(url, headers={"Accept": "text/event-stream"}, stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
        lines = r.iter_lines(decode_unicode=True)
        assert next(lines) == "event: event_stream_attached"
        assert requests.post(marathon.url + "/v2/apps",
                             json=docker_app("/x/sse")).status_code == 201
        seen = []
        for line in lines:
            if line.startswith("data: "):
                data = json.loads(line[6:])
                seen.append(data)
                if data.get("taskStatus") == "TASK_RUNNING":
                    break
        event = seen[-1]
        assert event["eventType"] == "status_update_event" and event["appId"] == "/x/sse"
        assert event["ipAddresses"][0]["protocol"] == "IPv4" and event["host"]
        assert all(d["eventType"] in ("status_update_event", "event_stream_attached") for d in seen)
