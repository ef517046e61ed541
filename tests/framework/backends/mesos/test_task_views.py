"""Framework mode's tasks for the operators' views: every live task, linked to the Mesos
UI when the master is an http(s) URL; never a URL's credentials."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.elastic import MesosBackend
from framework.backends.mesos.needs import TaskRecord
from framework.backends.views import TaskView, mesos_ui, public_url
from framework.model import Role
from framework.spec import MesosBackendSpec, parse_spec
from framework.state import FrameworkState
from tests.conftest import EXAMPLES


class Framework:
    """What MesosBackend reads of a MesosFramework."""

    def __init__(self, spec, records: list[TaskRecord], framework_id: str | None) -> None:
        self.spec, self.records, self.saved = spec, records, FrameworkState(framework_id)

    def snapshot_records(self) -> list[TaskRecord]:
        return [dataclasses.replace(r) for r in self.records]


def spec_with(master: str, tmp_path: Path):
    spec = parse_spec((EXAMPLES / "two-sites.yaml").read_text(), "two", tmp_path)
    backend = dataclasses.replace(spec.backend, type="mesos", mesos=MesosBackendSpec(master))
    return dataclasses.replace(spec, backend=backend)


RECORDS = [
    TaskRecord("e-2", Role.EXECUTOR, "dc", Phase.STARTING, 20.0, "ag-1", "TASK_STARTING",
               None, None),
    TaskRecord("m-1", Role.MASTER, "dc", Phase.RUNNING, 1.0, "ag-0", "TASK_RUNNING",
               "10.1.0.2", True),
    TaskRecord("e-1", Role.EXECUTOR, "campus", Phase.KILLING, 10.0, "ag-2", "TASK_RUNNING",
               "10.2.0.7", False),
    TaskRecord("e-0", Role.EXECUTOR, "dc", Phase.ENDED, 5.0, "ag-1", "TASK_KILLED"),
]


def test_every_live_task_with_its_mesos_ui_link(tmp_path):
    spec = spec_with("https://ops:secret@mesos.example:5050/,http://m2:5050", tmp_path)
    views = MesosBackend(Framework(spec, RECORDS, "fw-7")).tasks()
    ui = "https://mesos.example:5050/#/agents"
    assert views == [
        TaskView("e-1", "executor", "campus", "killing", False, "10.2.0.7", "ag-2",
                 f"{ui}/ag-2/frameworks/fw-7/executors/e-1"),
        TaskView("e-2", "executor", "dc", "starting", None, None, "ag-1",
                 f"{ui}/ag-1/frameworks/fw-7/executors/e-2"),
        TaskView("m-1", "master", "dc", "running", True, "10.1.0.2",
                 "ag-0", f"{ui}/ag-0/frameworks/fw-7/executors/m-1")]
    assert views[2].to_json() == {"id": "m-1", "role": "master", "site": "dc",
                                  "state": "running", "healthy": True, "ip": "10.1.0.2",
                                  "agent": "ag-0", "link": f"{ui}/ag-0/frameworks/fw-7/"
                                                           f"executors/m-1"}
    assert all("secret" not in (v.link or "") for v in views)


def test_no_link_without_an_http_master_a_framework_id_or_an_agent(tmp_path):
    zk = MesosBackend(Framework(spec_with("zk://z1:2181,z2:2181/mesos", tmp_path), RECORDS,
                                "fw-7")).tasks()
    assert [v.link for v in zk] == [None, None, None]
    records = [dataclasses.replace(RECORDS[1], agent_id=None)]
    http = spec_with("http://m1:5050", tmp_path)
    assert MesosBackend(Framework(http, records, "fw-7")).tasks()[0].link is None
    assert MesosBackend(Framework(http, RECORDS[1:2], None)).tasks()[0].link is None


def test_ui_urls():
    assert mesos_ui("http://m1:5050,http://m2:5050") == "http://m1:5050"
    assert mesos_ui("zk://z1:2181/mesos") is None and mesos_ui("") is None
    assert public_url("https://u:p@[fd00::1]:8443/marathon/?x=1#y") == \
        "https://[fd00::1]:8443/marathon"
    assert public_url("ftp://h/") is None and public_url("http://:80") is None
