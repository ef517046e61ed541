"""MarathonBackend's rules, on a scripted client: what it counts, when it writes, and when
it forces (the emulator tests run it against the strict emulator)."""
from __future__ import annotations

from pathlib import Path

import pytest

from framework.backends.marathon.backend import MarathonBackend
from framework.backends.marathon.client import Deployment, MarathonTask
from framework.backends.marathon.render import app_id
from framework.clock import ManualClock
from framework.errors import BackendError, MarathonLocked
from framework.model import Role
from framework.planner import TaskState
from framework.spec import parse_spec
from tests.conftest import EXAMPLES


def task(id_: str, app: str, state: str = "TASK_RUNNING", healthy: bool | None = True):
    return MarathonTask(id_, app, "h", "a", state, ("10.1.0.9",), healthy, None, "v")


class Client:
    """Apps and tasks as Marathon answers them; writes recorded; 409s scripted."""

    def __init__(self, apps: dict[str, int], tasks: dict[str, list[MarathonTask]]):
        self.apps, self.tasks_ = apps, tasks
        self.writes: list[tuple] = []
        self.locked_by: list[str] = []         # the next write gets 409 from these
        self.n = 0

    def get_app(self, app):
        return {"id": app, "instances": self.apps[app]} if app in self.apps else None

    def app_tasks(self, app):
        return list(self.tasks_.get(app, []))

    def _deploy(self, what, force):
        if self.locked_by and not force:
            raise MarathonLocked(409, "App is locked by one or more deployments.",
                                 deployments=list(self.locked_by))
        self.locked_by = []
        self.n += 1
        self.writes.append((*what, force))
        return Deployment(f"d{self.n}", "v")

    def scale_app(self, app, instances, force=False):
        return self._deploy(("scale", app, instances), force)

    def kill_tasks(self, ids, scale=True, force=False):
        return self._deploy(("kill", tuple(ids), scale), force)


@pytest.fixture
def setup(tmp_path: Path):
    spec = parse_spec((EXAMPLES / "two-sites.yaml").read_text(), "two", tmp_path)
    dc, campus = (app_id(spec, Role.EXECUTOR, s) for s in ("dc", "campus"))
    client = Client({dc: 3, campus: 1}, {
        dc: [task("t1", dc), task("t2", dc, "TASK_STAGING", None),
             task("t3", dc, "TASK_UNREACHABLE", None)],
        campus: [task("c1", campus, "TASK_RUNNING", False)]})
    return spec, dc, campus, client, MarathonBackend(spec, client, ManualClock(100.0))


def test_live_tasks_and_instances_without_a_task_are_executors(setup):
    spec, dc, campus, client, backend = setup
    got = {(e.task_id, e.site, e.state) for e in backend.executors()}
    # dc: 3 instances, 2 live tasks (the unreachable one does not count) → 1 pending
    assert got == {("t1", "dc", TaskState.RUNNING), ("t2", "dc", TaskState.STARTING),
                   (f"{dc}#pending-0", "dc", TaskState.STARTING),
                   ("c1", "campus", TaskState.STARTING)}       # running, not yet healthy


def test_instances_are_raised_and_never_lowered(setup):
    spec, dc, campus, client, backend = setup
    backend.set_desired("dc", 1)
    backend.set_desired("dc", 3)
    assert client.writes == []                       # lower or equal: nothing written
    backend.set_desired("dc", 5)
    assert client.writes == [("scale", dc, 5, False)]


def test_removal_is_one_call_naming_exactly_the_drained_tasks(setup):
    spec, dc, campus, client, backend = setup
    killed, errors = backend.kill_many(["t1", "c1", "nope"])
    assert killed == ["t1", "c1"] and errors == ["kill nope: no such live task in Marathon"]
    assert client.writes == [("kill", ("t1", "c1"), True, False)]


def test_a_scale_up_of_its_own_is_forced_anything_else_waits(setup):
    spec, dc, campus, client, backend = setup
    backend.set_desired("dc", 4)                     # d1: our scale-up
    client.locked_by = ["d1"]
    backend.set_desired("dc", 6)                     # over our own scale-up: forced
    assert client.writes[-1] == ("scale", dc, 6, True)
    client.locked_by = ["apply-rollout"]             # apply's deployment: never forced
    with pytest.raises(BackendError, match="deferred"):
        backend.set_desired("dc", 8)
    with pytest.raises(BackendError, match="deferred"):
        backend.kill_many(["t1"])
    assert client.writes[-1] == ("scale", dc, 6, True)
    client.locked_by = []                             # the roll-out is over
    backend.kill_many(["t1"])
    assert client.writes[-1] == ("kill", ("t1",), True, False)
    client.locked_by = [f"d{client.n}"]               # our own removal: not forced either
    with pytest.raises(BackendError, match="deferred"):
        backend.set_desired("dc", 9)


def test_a_missing_app_holds_the_site(setup):
    spec, dc, campus, client, backend = setup
    del client.apps[dc]
    with pytest.raises(BackendError, match="does not exist in Marathon"):
        backend.set_desired("dc", 2)
    assert "dc" in backend.held_sites()
