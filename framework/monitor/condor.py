"""The pool monitor of a real pool: one collector and one schedd query per tick.

The queries run in the bindings worker (:mod:`framework.condor.worker`): the startd slots
become one :class:`StartdInfo` per executor (its partitionable slot; the dynamic slots
are its claims), the idle jobs are grouped by request shape and wanted site
(``HTCMESOS_WANT_SITE``), the running ones counted per site. A startd is busy when its
ad shows a claim *or* the schedd runs a job on it (``RemoteHost``): the collector's copy of
a startd ad lags a claim by up to one update, the schedd's job does not. A failed or late query never
escapes: the snapshot is the last good data, marked stale with the reason. How long a
startd has been idle is tracked here (first seen without a claim), never guessed: after a
restart the monitor waits a full idle period again.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from ..condor.workerclient import CondorError, CondorWorker
from .base import PoolMonitor
from .snapshot import JobShape, PoolSnapshot, StartdInfo, empty


class CondorMonitor(PoolMonitor):
    """Snapshots of the pool behind ``collector`` (``host:9618?sock=collector``)."""

    def __init__(self, worker: CondorWorker, collector: str) -> None:
        self.worker, self.collector = worker, collector
        self._last: PoolSnapshot | None = None
        self._idle_since: dict[str, float] = {}

    def snapshot(self, now: float) -> PoolSnapshot:
        try:
            answer = self.worker.call({"op": "query", "collector": self.collector})
            snap = self._build(answer, now)
        except CondorError as exc:
            error = str(exc)
            return self._last.stale_copy(now, error) if self._last else empty(now, error)
        self._last = snap
        return snap

    def _build(self, answer: dict[str, Any], now: float) -> PoolSnapshot:
        pslots: dict[str, dict] = {}
        claims: Counter = Counter()
        for slot in answer.get("slots", []):
            task = slot.get("HTCMESOS_TASK_ID") or ""
            if not task:
                continue                     # a startd that is not one of our executors
            if slot.get("DynamicSlot"):
                claims[task] += 1
            elif slot.get("PartitionableSlot"):
                pslots[task] = slot
        running_on = Counter(_startd_of(job.get("RemoteHost"))
                             for job in answer.get("jobs", []) if job.get("JobStatus") == 2)
        running_on.pop("", None)             # a job whose RemoteHost is not known
        startds = []
        for task, slot in sorted(pslots.items()):
            held = max(claims[task], int(slot.get("NumDynamicSlots") or 0),
                       running_on[_startd_of(slot.get("Name"))])
            if held:
                self._idle_since.pop(task, None)
                idle_since = None
            else:
                idle_since = self._idle_since.setdefault(task, now)
            startds.append(StartdInfo(
                str(slot.get("Name", "")), task, str(slot.get("HTCMESOS_SITE") or ""),
                float(slot.get("TotalSlotCpus") or slot.get("Cpus") or 0),
                float(slot.get("TotalSlotMemory") or slot.get("Memory") or 0),
                float(slot.get("Cpus") or 0), float(slot.get("Memory") or 0), held,
                bool(slot.get("Draining")), float(slot.get("LastHeardFrom") or 0),
                idle_since, str(slot.get("MyAddress") or "")))
        for task in set(self._idle_since) - set(pslots):
            del self._idle_since[task]       # its startd left
        shapes: Counter = Counter()
        running: Counter = Counter()
        for job in answer.get("jobs", []):
            if job.get("JobStatus") == 1:
                shapes[(float(job.get("RequestCpus") or 1), float(job.get("RequestMemory") or 0),
                        job.get("HTCMESOS_WANT_SITE") or None)] += 1
            elif job.get("JobStatus") == 2:
                running[job.get("HTCMESOS_WANT_SITE") or "any"] += 1
        return PoolSnapshot(now, True, tuple(startds),
                            tuple(JobShape(c, m, s, n) for (c, m, s), n in sorted(
                                shapes.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                kv[0][2] or ""))),
                            dict(running), None, now)


def _startd_of(slot_name: Any) -> str:
    """The startd part of a slot name: ``slot1_2@host`` and ``slot1@host`` → ``host``."""
    name = str(slot_name or "")
    return name.split("@", 1)[1] if "@" in name else ""
