"""The HTCondor bindings in a child process: ``python -m framework.condor.worker``.

The ``htcondor2`` bindings hold the GIL while they wait on the network (a failed query
to a vanished collector froze every other thread of the process for 3 s and more,
measured), so the framework never calls them in its own process: it talks to this worker
over stdin/stdout, one JSON object per line each way, and kills it when an answer is late
(:class:`framework.condor.pool.CondorWorker`).

Requests and answers (``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``):

- ``{"op": "query", "collector": ADDR}``: one collector query (every startd slot: the
  fields of :data:`SLOT_ATTRS`) and one query of each schedd (idle and running jobs:
  :data:`JOB_ATTRS`) → ``{"slots": [...], "jobs": [...], "schedds": N}``;
- ``{"op": "drain", "name": NAME, "address": SINFUL}`` → ``{"request": ID}`` (graceful, no
  new claim, the startd stays up; refused by the startd when a slot holds a claim:
  :data:`DRAIN_CHECK`); with ``"operator": true`` the operator's drain: no check, reason
  :data:`OPERATOR_REASON` (the executor's config gives its jobs a long retirement);
- ``{"op": "cancel", "name": NAME, "address": SINFUL, "request": ID}`` → ``{}``.

Its HTCondor configuration comes from the environment the parent sets (``CONDOR_CONFIG``
``ONLY_ENV`` and ``_CONDOR_*``: trust domain, token directory).
"""
from __future__ import annotations

import json
import sys
from typing import Any

SLOT_ATTRS = ["Name", "Machine", "HTCMESOS_TASK_ID", "HTCMESOS_SITE", "PartitionableSlot",
              "DynamicSlot", "Cpus", "Memory", "TotalSlotCpus", "TotalSlotMemory",
              "NumDynamicSlots", "State", "Activity", "Draining", "LastHeardFrom", "MyAddress"]
JOB_ATTRS = ["ClusterId", "ProcId", "JobStatus", "RequestCpus", "RequestMemory",
             "HTCMESOS_WANT_SITE", "QDate", "RemoteHost"]


def _plain(ad: Any, attrs: list[str]) -> dict[str, Any]:
    out = {}
    for attr in attrs:
        if attr in ad:
            try:
                value = ad.eval(attr)
            except Exception:  # noqa: BLE001 - an expression that does not evaluate
                value = None
            out[attr] = value if isinstance(value, (str, int, float, bool, type(None))) \
                else str(value)
    return out


def query(htcondor2: Any, request: dict) -> dict:
    collector = htcondor2.Collector(request["collector"])
    slots = [_plain(ad, SLOT_ATTRS)
             for ad in collector.query(htcondor2.AdType.Startd, "true", SLOT_ATTRS)]
    jobs: list[dict] = []
    schedds = collector.query(htcondor2.AdType.Schedd)
    for schedd_ad in schedds:
        schedd = htcondor2.Schedd(schedd_ad)
        jobs += [_plain(ad, JOB_ATTRS)
                 for ad in schedd.query("JobStatus == 1 || JobStatus == 2", JOB_ATTRS)]
    return {"slots": slots, "jobs": jobs, "schedds": len(schedds)}


def _startd(htcondor2: Any, request: dict) -> Any:
    import classad2
    ad = classad2.ClassAd({"MyType": "Machine", "Name": request["name"],
                           "MyAddress": request["address"]})
    return htcondor2.Startd(ad)


#: The startd itself refuses a drain unless every slot is free of claims: the planner
#: decides on an ad up to one update old, and a claim that arrived meanwhile would be
#: evicted at once by the drain (MAXJOBRETIREMENTTIME is 0 but under the operator's
#: drains, config.py). The check and the start of the drain happen in the startd, with no
#: claim in between.
DRAIN_CHECK = ('State =!= "Claimed" && State =!= "Matched" && State =!= "Preempting"')


#: The reason of the operator's drains (the startd publishes it as ``DrainReason``; the
#: executor's MAXJOBRETIREMENTTIME lets jobs under such a drain finish: config.py).
OPERATOR_REASON = "htcmesos-operator"


def drain(htcondor2: Any, request: dict) -> dict:
    startd = _startd(htcondor2, request)
    if request.get("operator"):
        request_id = startd.drainJobs(drain_type=htcondor2.DrainType.Graceful,
                                      reason=OPERATOR_REASON)
    else:
        request_id = startd.drainJobs(drain_type=htcondor2.DrainType.Graceful,
                                      check_expr=DRAIN_CHECK)
    return {"request": str(request_id or "")}


def cancel(htcondor2: Any, request: dict) -> dict:
    _startd(htcondor2, request).cancelDrainJobs(request.get("request") or None)
    return {}


OPS = {"query": query, "drain": drain, "cancel": cancel}


def main() -> int:
    try:
        import htcondor2
    except ImportError as exc:
        print(json.dumps({"ok": False, "error": f"no HTCondor bindings: {exc}"}), flush=True)
        return 1
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = OPS[request["op"]](htcondor2, request)
            answer["ok"] = True
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
