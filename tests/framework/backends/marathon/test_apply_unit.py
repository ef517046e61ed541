"""``apply`` with a hand-written fake Marathon and an injected clock: nothing to change is
no call at all, a lock that never clears ends at the deadline, 422 paths name the app."""
from __future__ import annotations

from typing import Any

import pytest

from framework.backends.marathon.apply import apply, name_apps, plan_apply
from framework.backends.marathon.client import Deployment
from framework.errors import MarathonInvalid, MarathonLocked

GROUP = {"id": "/g/p", "apps": [{"id": "/g/p/master", "instances": 1},
                                {"id": "/g/p/executor-a", "instances": 1,
                                 "labels": {"htcmesos.role": "executor"}}]}


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class LockedMarathon:
    """Every write is refused: a deployment holds the group for ever."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            self.calls.append(name)
            if name == "deployments":
                return [{"id": "d-1", "affectedApps": ["/g/p/master"]}]
            if name == "get_group":
                return GROUP
            if name in ("put_group", "create_group"):
                raise MarathonLocked(409, "App is locked", {}, ["d-1"])
            raise AssertionError(f"unexpected call {name}")
        return call


def test_nothing_to_change_calls_nothing():
    client = LockedMarathon()
    result = apply(client, plan_apply(GROUP, GROUP), echo=lambda _: None)
    assert result.ok and result.deployment is None and client.calls == []


def test_a_lock_that_never_clears_ends_at_the_deadline_without_a_write():
    client, clock, lines = LockedMarathon(), FakeClock(), []
    changed = {**GROUP, "apps": [{**GROUP["apps"][0], "cpus": 2}, GROUP["apps"][1]]}
    result = apply(client, plan_apply(changed, GROUP), wait=False, timeout_s=30,
                   echo=lines.append, clock=clock, sleep=clock.sleep, poll_s=1.0)
    assert not result.ok and "stayed locked" in result.message and "--force" in result.message
    assert client.calls[:2] == ["get_group", "put_group"]
    assert set(client.calls) == {"get_group", "put_group", "deployments"}
    assert 29 <= clock.t <= 31
    assert lines == ["locked by deployment(s) d-1; waiting for it to finish "
                     "(--force would cancel)"]


def test_group_paths_of_422_name_the_app():
    exc = MarathonInvalid(422, "Object is not valid", {}, [("/apps(1)/cpus", ["error.min"]),
                                                           ("/apps(1)/mem", ["error.min"])])
    named = name_apps(exc, GROUP)
    assert str(named) == "Marathon refused /g/p/executor-a: /cpus: error.min; /mem: error.min"
    mixed = MarathonInvalid(422, "Object is not valid", {}, [("/apps(0)/id", ["bad"]),
                                                           ("/dependencies", ["cycle"])],
                            "/g/p")
    assert str(name_apps(mixed, GROUP)) == \
        "Marathon refused /g/p: /g/p/master/id: bad; /dependencies: cycle"


def test_deployment_from_json_tolerates_missing_fields():
    assert Deployment.from_json(None) == Deployment("", "")
    assert Deployment.from_json({"deploymentId": "d", "version": "v"}) == Deployment("d", "v")


@pytest.mark.parametrize("current,kept", [(5, 5), (0, 1), (1, 1)])
def test_settled_instances(current, kept):
    have = {**GROUP, "apps": [GROUP["apps"][0], {**GROUP["apps"][1], "instances": current}]}
    assert plan_apply(GROUP, have).desired["apps"][1]["instances"] == kept


class RaisedDuringTheLock:
    """The first write meets the autoscaler's scale-up; meanwhile it raised executor-a."""

    def __init__(self) -> None:
        self.instances, self.puts = 1, []

    def get_group(self, gid):
        return {**GROUP, "apps": [GROUP["apps"][0], {**GROUP["apps"][1],
                                                     "instances": self.instances}]}

    def deployments(self):
        return []

    def put_group(self, gid, group, force=False):
        self.puts.append(group)
        if len(self.puts) == 1:
            self.instances = 5                   # raised while apply waited
            raise MarathonLocked(409, "App is locked", {}, ["scale-up"])
        return Deployment("d-2", "v2")


def test_a_write_after_a_lock_carries_the_instances_raised_meanwhile():
    client, clock = RaisedDuringTheLock(), FakeClock()
    changed = {**GROUP, "apps": [{**GROUP["apps"][0], "cpus": 2}, GROUP["apps"][1]]}
    result = apply(client, plan_apply(changed, GROUP), wait=False, echo=lambda _: None,
                   clock=clock, sleep=clock.sleep)
    assert result.ok and result.deployment == Deployment("d-2", "v2")
    executors = [a["instances"] for g in client.puts for a in g["apps"]
                 if a["id"] == "/g/p/executor-a"]
    assert executors == [1, 5]                  # never back down to the planned 1
