"""Strict REST v2 validation: Marathon's status codes and bodies for bad requests."""
from __future__ import annotations

import copy

import pytest
import requests

from framework.sim.marathon import EmulatedMarathon
from framework.sim.mesos.master import EmulatedMaster
from tests.framework.sim.conftest import make_cluster
from tests.framework.sim.marathon.conftest import docker_app


@pytest.fixture(scope="module")
def shared():
    """One cluster, master and Marathon for the whole module (requests here change little)."""
    cluster = make_cluster()
    master = EmulatedMaster(cluster, heartbeat_s=0.2).start()
    m = EmulatedMarathon(master.url, deployment_poll_s=0.05).start()
    yield master, m
    m.stop()
    master.stop()
    cluster.close()


@pytest.fixture
def marathon(shared):
    return shared[1]


@pytest.fixture
def master(shared):
    return shared[0]

NOT_VALID = "Object is not valid"


def post(m: EmulatedMarathon, app: dict) -> requests.Response:
    return requests.post(m.url + "/v2/apps", json=app, timeout=5)


def with_(app: dict, path: str, value) -> dict:
    """A copy of ``app`` with ``path`` (dotted) set to ``value``."""
    out = copy.deepcopy(app)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1] if not isinstance(node, list) else int(keys[-1])] = value
    return out


BASE = docker_app("/v/app")

RULE_CASES = [
    (with_(BASE, "constraints", [["site", "IS", "dc"]]),
     [{"path": "/constraints(0)", "errors": ["Constraint operator must be one of the following "
                                             "UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER or UNLIKE"]}]),
    (with_(BASE, "constraints", [["site", "CLUSTER"]]),
     [{"path": "/constraints(0)", "errors": ["Missing value"]}]),
    (with_(BASE, "networks", [{"mode": "container"}]),
     [{"path": "/networks", "errors": ["Network name must be specified when container network "
                                       "is selected."]}]),
    (dict(BASE, ipAddress={"networkName": "calico-dc"}),
     [{"path": "/", "errors": ["must not specify both networks and ipAddress"]}]),
    (with_(BASE, "networks", [{"mode": "container", "name": "a"}, {"mode": "host"}]),
     [{"path": "/networks", "errors": ["Mesos networking modes may not be mixed"]}]),
    (with_(BASE, "networks", [{"mode": "container", "name": "a"}, {"mode": "container", "name": "b"}]),
     [{"path": "/networks", "errors": ["may only specify a single container network when using "
                                       "the Docker container engine"]}]),
    (dict(BASE, env={"X": {"secret": "nope"}}),
     [{"path": "/env/X/secret", "errors": ["references an undefined secret"]}]),
    (with_(BASE, "healthChecks.0.portIndex", 3),
     [{"path": "/healthChecks(0)", "errors": ["Health check port indices must address an element "
                                              "of the ports array or container port mappings."]}]),
    (dict(BASE, healthChecks=BASE["healthChecks"] * 2),
     [{"path": "/", "errors": ["AppDefinition can contain at most one Mesos health check."]}]),
    (dict(BASE, id="/v/Bad_Id"),
     [{"path": "/id", "errors": ["must fully match regular expression '^(([a-z0-9]|[a-z0-9]"
                                 "[a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])"
                                 "|(\\.|\\.\\.)$'"]}]),
    (dict(BASE, dependencies=["/ok", "/Not OK"]),
     [{"path": "/dependencies(1)", "errors": ["must fully match regular expression '^(([a-z0-9]|"
                                              "[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9]"
                                              "[a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'"]}]),
]


@pytest.mark.parametrize("app,details", RULE_CASES)
def test_rule_errors(marathon, app, details):
    r = post(marathon, app)
    assert r.status_code == 422, r.text
    assert r.json() == {"message": NOT_VALID, "details": details}
    assert marathon.app(app["id"]) is None


TYPE_CASES = [
    (dict(BASE, instances=-1), [{"path": "/instances", "errors": ["error.min"]}]),
    (dict(BASE, cpus=0.0001), [{"path": "/cpus", "errors": ["error.min"]}]),
    (dict(BASE, mem=-5), [{"path": "/mem", "errors": ["error.min"]}]),
    (dict(BASE, instances="2"), [{"path": "/instances", "errors": ["error.expected.jsnumber"]}]),
    (dict(BASE, instances=1.5), [{"path": "/instances", "errors": ["error.expected.int"]}]),
    (dict(BASE, upgradeStrategy={"minimumHealthCapacity": 1.5, "maximumOverCapacity": -0.1}),
     [{"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["error.max"]},
      {"path": "/upgradeStrategy/maximumOverCapacity", "errors": ["error.min"]}]),
    (dict(BASE, tasksRunning=3), [{"path": "/tasksRunning", "errors": ["error.unknown.property"]}]),
    (dict(BASE, env={"N": 3}), [{"path": "/env/N", "errors": ["error.expected.jsstring"]}]),
    (with_(BASE, "container.docker", {"forcePullImage": False}),
     [{"path": "/container/docker/image", "errors": ["error.path.missing"]}]),
]


@pytest.mark.parametrize("app,details", TYPE_CASES)
def test_type_errors(marathon, app, details):
    r = post(marathon, app)
    assert r.status_code == 422, r.text
    assert r.json() == {"message": "Invalid JSON", "details": details}


def test_secrets_need_the_feature(master):
    m = EmulatedMarathon(master.url, features=()).start()
    try:
        app = dict(BASE, secrets={"c": {"source": "htcondor/p1/master"}},
                   env={"HTCMESOS_CREDENTIALS": {"secret": "c"}})
        r = post(m, app)
        assert r.status_code == 422
        assert r.json() == {"message": NOT_VALID, "details": [{
            "path": "/secrets",
            "errors": ["Feature secrets is not enabled. Enable with --enable_features secrets)"]}]}
    finally:
        m.stop()


def test_plain_errors(marathon):
    url = marathon.url
    r = requests.post(url + "/v2/apps", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid JSON"
    assert requests.get(url + "/v2/nothing").status_code == 404
    r = requests.get(url + "/v2/apps/missing")
    assert (r.status_code, r.json()) == (404, {"message": "App '/missing' does not exist"})
    r = requests.get(url + "/v2/groups/missing")
    assert (r.status_code, r.json()) == (404, {"message": "Group '/missing' does not exist"})
    assert post(marathon, dict(BASE, id="/plain/app", instances=0)).status_code == 201
    r = post(marathon, dict(BASE, id="/plain/app", instances=0))
    assert (r.status_code, r.json()) == (409, {"message": "An app with id [/plain/app] already exists."})
    r = requests.post(url + "/v2/tasks/delete", json={"ids": ["not-a-task"]})
    assert (r.status_code, r.json()) == (400, {"message": "Invalid task id 'not-a-task'."})
    r = requests.delete(url + "/v2/deployments/nope")
    assert r.status_code == 404
    r = requests.get(url + "/v2/events")           # no Accept: text/event-stream
    assert r.status_code == 406
    assert requests.get(url + "/ping").text == "pong"
    info = requests.get(url + "/v2/info").json()
    assert info["name"] == "marathon" and info["version"] == "1.11.24" and info["frameworkId"]
    assert ("GET", "/ping", 200) in marathon.requests
    assert all(w[0] in ("POST", "PUT", "PATCH", "DELETE") for w in marathon.writes())


def test_normalization(marathon):
    r = post(marathon, {"id": "norm", "cmd": "sleep 100", "instances": 0})
    assert r.status_code == 201, r.text
    assert r.headers["Marathon-Deployment-Id"]
    app = marathon.app("/norm")
    assert app["cpus"] == 1 and app["mem"] == 128 and app["disk"] == 0
    assert app["backoffSeconds"] == 1 and app["backoffFactor"] == 1.15
    assert app["maxLaunchDelaySeconds"] == 3600
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    assert app["killSelection"] == "YOUNGEST_FIRST"
    assert app["networks"] == [{"mode": "host"}]
    assert app["version"] == app["versionInfo"]["lastConfigChangeAt"]
    r = post(marathon, dict(docker_app("/pm"), instances=0,
                            container={"type": "DOCKER", "docker": {"image": "x"}}))
    assert r.status_code == 201, r.text
    pm = marathon.app("/pm")
    assert pm["container"]["portMappings"] == [{"containerPort": 0, "name": "default",
                                                "protocol": "tcp", "servicePort": 0}]
    assert pm["healthChecks"][0]["portIndex"] == 0


def test_put_merges_and_rollback_needs_known_version(marathon):
    assert post(marathon, dict(BASE, id="/put/app", instances=0)).status_code == 201
    r = requests.put(marathon.url + "/v2/apps/put/app", json={"labels": {"a": "b"}})
    assert r.status_code == 200 and set(r.json()) == {"deploymentId", "version"}
    app = marathon.app("/put/app")
    assert app["labels"] == {"a": "b"} and app["cpus"] == 0.5      # merged, not replaced
    r = requests.put(marathon.url + "/v2/apps/put/app?partialUpdate=false",
                     json={"cmd": "sleep 1", "instances": 0})
    assert r.status_code == 200
    assert marathon.app("/put/app")["cpus"] == 1 and "container" not in marathon.app("/put/app")
    r = requests.put(marathon.url + "/v2/apps/put/app", json={"version": "2001-01-01T00:00:00.000Z"})
    assert r.status_code == 422
    r = requests.put(marathon.url + "/v2/apps/new", json={"cmd": "sleep 1", "instances": 0})
    assert r.status_code == 201 and r.headers["Marathon-Deployment-Id"] == r.json()["deploymentId"]


def test_groups_resolve_relative_ids(marathon):
    url = marathon.url
    body = {"id": "inner", "apps": [{"id": "a", "cmd": "sleep 1", "instances": 0,
                                     "dependencies": ["../b"]},
                                    {"id": "/outer/inner/c", "cmd": "sleep 1", "instances": 0}]}
    r = requests.put(url + "/v2/groups/outer", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["Marathon-Deployment-Id"] == r.json()["deploymentId"]
    assert marathon.app("/outer/inner/a")["dependencies"] == ["/outer/b"]
    group = requests.get(url + "/v2/groups/outer").json()
    assert group["apps"] == [] and [g["id"] for g in group["groups"]] == ["/outer/inner"]
    assert [a["id"] for a in group["groups"][0]["apps"]] == ["/outer/inner/a", "/outer/inner/c"]
    r = requests.put(url + "/v2/groups/outer/inner", json={"apps": [{"id": "/elsewhere/x", "cmd": "x"}]})
    assert r.status_code == 422 and r.json()["message"] == NOT_VALID
    r = requests.put(url + "/v2/groups/outer/inner", json={"apps": [{"id": "a", "cpus": 0}]})
    assert r.json() == {"message": "Invalid JSON",
                        "details": [{"path": "/apps(0)/cpus", "errors": ["error.min"]}]}
    listed = requests.get(url + "/v2/apps?id=/outer/&embed=apps.tasks").json()["apps"]
    assert [a["id"] for a in listed] == ["/outer/inner/a", "/outer/inner/c"]
    assert all(a["tasks"] == [] for a in listed)
    assert requests.delete(url + "/v2/groups/outer").status_code == 200
    assert requests.get(url + "/v2/groups/outer").status_code == 404
    assert marathon.app("/outer/inner/a") is None


def test_marathon_side_checks_are_accepted(marathon):
    app = {"id": "/checks/http", "cmd": "sleep 1", "instances": 0,
           "portDefinitions": [{"port": 0}],
           "healthChecks": [{"protocol": "HTTP", "path": "/"}, {"protocol": "TCP"},
                            {"protocol": "COMMAND", "command": {"value": "true"}}]}
    r = post(marathon, app)
    assert r.status_code == 201, r.text
    assert [h["protocol"] for h in marathon.app("/checks/http")["healthChecks"]] == [
        "HTTP", "TCP", "COMMAND"]
    events = [e for e in marathon.events() if e["eventType"] == "api_post_event"]
    assert any(e["appDefinition"]["id"] == "/checks/http" for e in events)
