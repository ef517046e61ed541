"""App life cycle on the emulated cluster: health-check kills, cancel and rollback,
delete, constraints, plain kills, restarts, upgrades one at a time, unreachable agents."""
from __future__ import annotations

import requests

from framework.sim.marathon.events import EventHub
from tests.framework.sim.marathon.conftest import deployed, docker_app, healthy_tasks
from tests.waiting import wait_for


def post(m, app):
    r = requests.post(m.url + "/v2/apps", json=app)
    assert r.status_code == 201, r.text
    return r


def statuses(m, app_id, state=None):
    return [e for e in m.events() if e["eventType"] == "status_update_event"
            and e["appId"] == app_id and (state is None or e["taskStatus"] == state)]


def test_health_check_kill_is_a_failure(marathon, cluster):
    checks = [dict(docker_app("/a")["healthChecks"][0], maxConsecutiveFailures=1,
                   gracePeriodSeconds=0)]
    post(marathon, docker_app("/hc/app", healthChecks=checks, backoffSeconds=1))
    deployed(marathon)
    [first] = marathon.tasks("/hc/app")
    cluster.runner.fail_health("dc", after_s=0.0, count=1)
    r = requests.post(marathon.url + "/v2/apps/hc/app/restart")   # a new task gets the fault
    assert r.status_code == 200
    wait_for(lambda: marathon.app("/hc/app").get("lastTaskFailure"), 10, "the health-check kill")
    assert marathon.app("/hc/app")["lastTaskFailure"]["state"] == "TASK_KILLED"
    assert any(e["eventType"] == "health_status_changed_event" and not e["alive"]
               for e in marathon.events())
    deployed(marathon, timeout=20)
    [task] = healthy_tasks(marathon, "/hc/app")
    assert task["id"] != first["id"]
    versions = requests.get(marathon.url + "/v2/apps/hc/app/versions").json()["versions"]
    assert len(versions) == 2 and versions == sorted(versions, reverse=True)
    assert requests.get(marathon.url + f"/v2/apps/hc/app/versions/{versions[-1]}").json()["id"] == "/hc/app"


def test_cancel_with_rollback_and_force(marathon, cluster):
    post(marathon, docker_app("/rb/app", 1))
    deployed(marathon)
    cluster.runner.set_start_delay("dc", 0.5, 0.5)
    dep = requests.put(marathon.url + "/v2/apps/rb/app", json={"instances": 3}).json()
    r = requests.delete(marathon.url + f"/v2/deployments/{dep['deploymentId']}")
    assert r.status_code == 200 and r.headers["Marathon-Deployment-Id"] == r.json()["deploymentId"]
    assert marathon.app("/rb/app")["instances"] == 1
    deployed(marathon)
    assert len(marathon.tasks("/rb/app")) == 1
    dep = requests.put(marathon.url + "/v2/apps/rb/app", json={"instances": 2}).json()
    r = requests.delete(marathon.url + f"/v2/deployments/{dep['deploymentId']}?force=true")
    assert r.status_code == 202
    assert requests.get(marathon.url + "/v2/deployments").json() == []
    assert marathon.app("/rb/app")["instances"] == 2          # no rollback
    wait_for(lambda: len(healthy_tasks(marathon, "/rb/app")) == 2, 10, "the second task")


def test_delete_app(marathon):
    post(marathon, docker_app("/del/app", 2))
    deployed(marathon)
    r = requests.delete(marathon.url + "/v2/apps/del/app")
    assert r.status_code == 200 and set(r.json()) == {"deploymentId", "version"}
    assert requests.get(marathon.url + "/v2/apps/del/app").status_code == 404
    deployed(marathon)
    assert len(statuses(marathon, "/del/app", "TASK_KILLED")) == 2
    assert requests.delete(marathon.url + "/v2/apps/del/app").status_code == 404


def test_constraints(marathon):
    post(marathon, docker_app("/c/unique", 4, constraints=[["hostname", "UNIQUE"]]))
    post(marathon, docker_app("/c/region", 2, site="cloud",
                              constraints=[["@region", "CLUSTER", "eu-west"],
                                           ["@zone", "LIKE", "eu-west-1.*"]]))
    post(marathon, docker_app("/c/like", 2, constraints=[["hostname", "LIKE", "dc-agent-[12]"],
                                                         ["hostname", "MAX_PER", "1"]]))
    wait_for(lambda: len(healthy_tasks(marathon, "/c/unique")) == 3, 10, "3 unique tasks")
    wait_for(lambda: len(healthy_tasks(marathon, "/c/region")) == 2, 10, "2 cloud tasks")
    wait_for(lambda: len(healthy_tasks(marathon, "/c/like")) == 2, 10, "2 like tasks")
    assert len({t["host"] for t in marathon.tasks("/c/unique")}) == 3   # the 4th waits
    assert all(t["host"].startswith("cloud-") for t in marathon.tasks("/c/region"))
    assert {t["host"] for t in marathon.tasks("/c/like")} == {"dc-agent-1", "dc-agent-2"}
    [dep] = requests.get(marathon.url + "/v2/deployments").json()
    assert dep["affectedApps"] == ["/c/unique"]


def test_kill_without_scale_relaunches(marathon):
    post(marathon, docker_app("/k/app", 2))
    deployed(marathon)
    [victim, other] = marathon.tasks("/k/app")
    r = requests.delete(marathon.url + f"/v2/apps/k/app/tasks/{victim['id']}")
    assert r.status_code == 200 and r.json()["task"]["id"] == victim["id"]
    wait_for(lambda: len(healthy_tasks(marathon, "/k/app")) == 2
             and victim["id"] not in {t["id"] for t in marathon.tasks("/k/app")}, 10, "a relaunch")
    assert marathon.app("/k/app")["instances"] == 2
    assert "lastTaskFailure" not in marathon.app("/k/app")      # asked for: not a failure
    r = requests.delete(marathon.url + f"/v2/apps/k/app/tasks/{other['id']}?scale=true")
    assert r.status_code == 200 and "deploymentId" in r.json()
    assert marathon.app("/k/app")["instances"] == 1
    r = requests.delete(marathon.url + "/v2/apps/k/app/tasks/k_app.instance-"
                        "00000000-0000-4000-8000-000000000000._app.1")
    assert r.status_code == 404


def test_upgrade_one_at_a_time_never_overlaps(marathon, cluster):
    """The master's strategy {0, 0} with a fixed address: the old task is gone before the
    new one is launched."""
    app = docker_app("/m/master", 1, upgradeStrategy={"minimumHealthCapacity": 0,
                                                     "maximumOverCapacity": 0},
                     container={"type": "DOCKER", "docker": {
                         "image": "htcmesos/role:1", "parameters": [{"key": "ip", "value": "10.1.0.5"}]},
                         "portMappings": [{"containerPort": 5000, "name": "health"}]})
    post(marathon, app)
    deployed(marathon)
    [old] = marathon.tasks("/m/master")
    assert old["ipAddresses"][0]["ipAddress"] == "10.1.0.5"
    assert requests.put(marathon.url + "/v2/apps/m/master", json={"env": {"V": "2"}}).status_code == 200
    deployed(marathon)
    [new] = marathon.tasks("/m/master")
    assert new["ipAddresses"][0]["ipAddress"] == "10.1.0.5"
    assert statuses(marathon, "/m/master", "TASK_FAILED") == []   # the address was free
    events = statuses(marathon, "/m/master")
    killed_at = next(i for i, e in enumerate(events) if e["taskId"] == old["id"]
                     and e["taskStatus"] == "TASK_KILLED")
    first_new = next(i for i, e in enumerate(events) if e["taskId"] == new["id"])
    assert killed_at < first_new
    assert marathon.min_healthy_during_deployment("/m/master") == 0


def test_unreachable_agent_gets_a_replacement(marathon, cluster):
    cluster.agent_ping_timeout_s, cluster.max_agent_ping_timeouts = 0.1, 2
    post(marathon, docker_app("/u/app", 1, unreachableStrategy={"inactiveAfterSeconds": 1,
                                                               "expungeAfterSeconds": 60}))
    deployed(marathon)
    [task] = marathon.tasks("/u/app")
    cluster.partition_agent(task["slaveId"])
    wait_for(lambda: any(t["state"] == "TASK_UNREACHABLE" for t in marathon.tasks("/u/app")), 10,
             "TASK_UNREACHABLE")
    wait_for(lambda: any(t["id"] != task["id"] for t in healthy_tasks(marathon, "/u/app")), 10,
             "a replacement")
    cluster.heal_agent(task["slaveId"])
    # back: two tasks for one instance → the youngest goes (killSelection YOUNGEST_FIRST)
    wait_for(lambda: [t["id"] for t in marathon.tasks("/u/app")] == [task["id"]], 10,
             "the extra task killed")


def test_slow_subscriber_is_cut_off():
    hub = EventHub(lambda: "t", max_outstanding=3)
    slow = hub.subscribe(frozenset(), "slow")
    picky = hub.subscribe(frozenset({"deployment_success"}), "picky")
    for i in range(5):
        hub.publish("status_update_event", {"n": i})
    assert slow.closed.is_set() and hub.count() == 1
    assert not picky.closed.is_set() and picky.queue.qsize() == 0
    hub.publish("deployment_success", {"id": "d"})
    assert picky.queue.get_nowait().startswith(b"event: deployment_success\ndata: {")


def test_lowering_instances_kills_a_running_task_before_a_scheduled_instance(marathon):
    """Upstream ``ScalingProposition``: an instance that has no task yet weighs most, so
    lowering ``instances`` by one with a scheduled instance waiting kills a running task
    (why htcmesos never lowers ``instances`` itself)."""
    post(marathon, docker_app("/c/low", 4, constraints=[["hostname", "UNIQUE"]]))
    wait_for(lambda: len(healthy_tasks(marathon, "/c/low")) == 3, 10, "3 tasks, 1 waiting")
    before = {t["id"] for t in marathon.tasks("/c/low")}
    r = requests.put(marathon.url + "/v2/apps/c/low?force=true", json={"instances": 3})
    assert r.status_code == 200, r.text
    # one of the three running tasks goes; the scheduled instance takes its host
    wait_for(lambda: len(before - {t["id"] for t in marathon.tasks("/c/low")}) == 1, 10,
             "a running task killed")
    wait_for(lambda: len(healthy_tasks(marathon, "/c/low")) == 3, 10, "3 tasks again")
    assert len({t["id"] for t in marathon.tasks("/c/low")} - before) == 1
