"""Marathon mode's tasks for the operators' views: every app of the group, each task
linked to its app in Marathon's UI; an app Marathon cannot list is left out."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from framework.backends.marathon.backend import MarathonBackend
from framework.backends.marathon.client import MarathonTask
from framework.backends.marathon.render import app_id
from framework.backends.views import TaskView
from framework.clock import ManualClock
from framework.errors import MarathonUnavailable
from framework.model import Role
from framework.spec import MarathonBackendSpec, parse_spec
from tests.conftest import EXAMPLES


def task(id_: str, app: str, state: str, healthy: bool | None, ips=("10.1.0.9",)):
    return MarathonTask(id_, app, "host-1", "agent-1", state, ips, healthy, None, "v")


class Client:
    """``app_tasks`` as Marathon answers it; an app named in ``down`` cannot be listed."""

    def __init__(self, tasks: dict[str, list[MarathonTask]], down: set[str]) -> None:
        self.tasks_, self.down = tasks, down

    def app_tasks(self, app):
        if app in self.down:
            raise MarathonUnavailable(0, f"no answer from Marathon for {app}")
        return list(self.tasks_.get(app, []))


def test_the_tasks_of_every_app_with_the_apps_link(tmp_path: Path):
    spec = parse_spec((EXAMPLES / "two-sites.yaml").read_text(), "two", tmp_path)
    marathon = MarathonBackendSpec("https://admin:pw@marathon.example:8443/", "/htcondor")
    spec = dataclasses.replace(spec, backend=dataclasses.replace(
        spec.backend, type="marathon", marathon=marathon))
    master, submitter = app_id(spec, Role.MASTER), app_id(spec, Role.SUBMITTER)
    dc, campus = (app_id(spec, Role.EXECUTOR, s) for s in ("dc", "campus"))
    client = Client({
        master: [task("m.1", master, "TASK_RUNNING", True)],
        dc: [task("d.2", dc, "TASK_STAGING", None, ()), task("d.1", dc, "TASK_KILLING", False),
             task("d.3", dc, "TASK_UNREACHABLE", None)],
        campus: [task("c.1", campus, "TASK_FINISHED", None)]}, down={submitter})
    views = MarathonBackend(spec, client, ManualClock(0.0)).tasks()
    home = spec.master_site.name

    def link(app: str) -> str:
        return f"https://marathon.example:8443/ui/#/apps/{app.replace('/', '%2F')}"

    assert views == [
        TaskView("m.1", "master", home, "running", True, "10.1.0.9", "agent-1", link(master)),
        TaskView("d.1", "executor", "dc", "killing", False, "10.1.0.9", "agent-1", link(dc)),
        TaskView("d.2", "executor", "dc", "starting", None, None, "agent-1", link(dc)),
        TaskView("d.3", "executor", "dc", "unreachable", None, "10.1.0.9", "agent-1",
                 link(dc)),
        TaskView("c.1", "executor", "campus", "finished", None, "10.1.0.9", "agent-1",
                 link(campus))]
    assert master.startswith("/") and link(master).endswith("%2Fmaster")
