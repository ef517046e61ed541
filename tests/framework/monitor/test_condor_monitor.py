"""The real pool's monitor turns one collector + schedd answer into a snapshot: a startd
is busy when its ad shows a claim or the schedd runs a job on it (the collector's ad can
lag a claim by one update)."""
from __future__ import annotations

from typing import Any

from framework.condor.workerclient import CondorError
from framework.monitor.condor import CondorMonitor


class Worker:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def call(self, request: dict, timeout_s: float | None = None) -> dict:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def pslot(task: str, host: str, dynamic: int = 0) -> dict:
    return {"Name": f"slot1@{host}", "HTCMESOS_TASK_ID": task, "HTCMESOS_SITE": "dc",
            "PartitionableSlot": True, "TotalSlotCpus": 2, "TotalSlotMemory": 2048,
            "Cpus": 2, "Memory": 2048, "NumDynamicSlots": dynamic, "Draining": False,
            "LastHeardFrom": 100, "MyAddress": f"<10.0.0.1:9618?name={host}>"}


def test_a_job_the_schedd_runs_makes_its_startd_busy_before_the_ad_shows_the_claim():
    lagging = {"slots": [pslot("t1", "ex-1"), pslot("t2", "ex-2")],
               "jobs": [{"JobStatus": 2, "RemoteHost": "slot1_1@ex-1", "RequestCpus": 1},
                        {"JobStatus": 2, "RequestCpus": 1},          # no RemoteHost yet
                        {"JobStatus": 1, "RequestCpus": 1, "HTCMESOS_WANT_SITE": "dc"}]}
    monitor = CondorMonitor(Worker([lagging]), "cm:9618")
    snap = monitor.snapshot(10.0)
    by = snap.by_task()
    assert (by["t1"].claims, by["t1"].idle_since) == (1, None)
    assert (by["t2"].claims, by["t2"].idle_since) == (0, 10.0)
    assert snap.running_jobs == {"any": 2}
    assert [(j.cpus, j.site, j.count) for j in snap.idle_jobs] == [(1.0, "dc", 1)]


def test_idle_time_starts_when_neither_the_ad_nor_the_schedd_shows_a_job():
    busy = {"slots": [pslot("t1", "ex-1")],
            "jobs": [{"JobStatus": 2, "RemoteHost": "slot1_1@ex-1"}]}
    done = {"slots": [pslot("t1", "ex-1")], "jobs": []}
    monitor = CondorMonitor(Worker([busy, done, CondorError("collector timed out"), done]),
                            "cm:9618")
    assert monitor.snapshot(1.0).by_task()["t1"].idle_since is None
    assert monitor.snapshot(2.0).by_task()["t1"].idle_since == 2.0
    stale = monitor.snapshot(3.0)
    assert (stale.fresh, stale.error, stale.by_task()["t1"].idle_since) == \
        (False, "collector timed out", 2.0)
    assert monitor.snapshot(4.0).by_task()["t1"].idle_since == 2.0
