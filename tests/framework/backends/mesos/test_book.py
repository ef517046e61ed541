"""The task book's status handling: what the operator reads in a record's message."""
from __future__ import annotations

from framework.autoscaler.backoff import LaunchBackoff
from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.book import TaskBook
from framework.backends.mesos.needs import TaskRecord
from framework.backends.mesos.parts import Options
from framework.clock import ManualClock
from framework.mesos.protocol import TaskState
from framework.model import Role
from framework.state import FileStore


def test_a_reconciliation_answer_keeps_the_message_that_said_why(tmp_path):
    book = TaskBook("p", FileStore(tmp_path / "state.json"), ManualClock(), Options(),
                    LaunchBackoff())
    rec = TaskRecord("p.master.dc.1", Role.MASTER, "dc", Phase.RUNNING, 0.0, "agent-1")
    why = "Agent dc-agent-0 is unreachable: health check timed out"
    book.apply(rec, TaskState.UNREACHABLE, {"state": "TASK_UNREACHABLE", "message": why,
                                            "reason": "REASON_SLAVE_REMOVED"})
    assert (rec.phase, rec.message) == (Phase.UNREACHABLE, why)
    answer = {"state": "TASK_UNREACHABLE", "reason": "REASON_RECONCILIATION",
              "message": "Reconciliation: Latest task state"}
    book.apply(rec, TaskState.UNREACHABLE, answer)           # the same state again
    assert (rec.phase, rec.message) == (Phase.UNREACHABLE, why)
    back = {"state": "TASK_RUNNING", "reason": "REASON_RECONCILIATION",
            "message": "Reconciliation: Latest task state"}
    book.apply(rec, TaskState.RUNNING, back)                 # a new state: its message
    assert (rec.phase, rec.message) == (Phase.RUNNING, "Reconciliation: Latest task state")
