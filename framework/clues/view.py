"""The pool as CLUES' LRMS view: its nodes and its jobs, in CLUES' JSON shapes.

Shapes from CLUES' ``NodeInfo`` / ``JobInfo`` (grycap/clues 2.3.0 ``clueslib/node.py``,
``clueslib/request.py``): memory in bytes, as its mesos and slurm plugins report it.

Nodes (every virtual node of :mod:`.nodes`, on or off):

- no executor bound → ``OFF`` with the executor slot's full capacity (what powering it
  on would give);
- executor bound, its startd in a fresh snapshot → ``USED`` with claims, else ``IDLE``;
- executor starting (no ad yet) or being killed → ``OFF`` (CLUES waits for it to come
  up, or to go);
- executor running without an ad, or a stale snapshot → ``UNKNOWN``.

Jobs: one entry per shape of idle jobs (cores, memory, wanted site): ``PENDING``,
``taskcount`` jobs, ``maxtaskspernode`` as many as fit one executor slot (cores and
memory; shapes no slot can hold are left out: no node would help them), and for jobs
pinned to a site the constraint ``HTCMESOS_SITE == "<site>"`` (a node keyword), as the
REQUEST hook passes it. Running jobs show only as their nodes' USED state: the snapshot
counts them per site and has no per-job shape to report.
"""
from __future__ import annotations

from typing import Any

from ..model import Role
from ..monitor.snapshot import PoolSnapshot
from ..planner.decision import Executor, TaskState
from ..spec import ClusterSpec
from .nodes import NodeTable, all_nodes

MIB = 1 << 20


def lrms_nodes(spec: ClusterSpec, snapshot: PoolSnapshot, executors: list[Executor],
               table: NodeTable) -> list[dict[str, Any]]:
    """CLUES' node list (see the module docstring)."""
    role = spec.roles[Role.EXECUTOR]
    slot_cpus, slot_mem = int(max(1, role.cpus)), int(role.mem_mb) * MIB
    by_task = snapshot.by_task()
    tasks = {e.task_id: e for e in executors}
    on = table.tasks()
    out = []
    for node, site in all_nodes(spec):
        task = on.get(node)
        executor = tasks.get(task or "")
        ad = by_task.get(task or "")
        entry: dict[str, Any] = {"name": node, "state": "OFF", "slots_count": slot_cpus,
                                 "slots_free": slot_cpus, "memory_total": slot_mem,
                                 "memory_free": slot_mem,
                                 "keywords": {"hostname": node, "HTCMESOS_SITE": site}}
        if executor is None or executor.state is TaskState.KILLING:
            pass
        elif not snapshot.fresh:
            entry["state"] = "UNKNOWN"
        elif ad is not None:
            entry.update(state="USED" if ad.claims else "IDLE", slots_count=int(ad.cpus),
                         slots_free=int(ad.cpus_free), memory_total=int(ad.memory * MIB),
                         memory_free=int(ad.memory_free * MIB))
        elif executor.state is TaskState.RUNNING:
            entry["state"] = "UNKNOWN"
        if executor is not None:
            entry["keywords"]["task_id"] = executor.task_id
        out.append(entry)
    return out


def lrms_jobs(spec: ClusterSpec, snapshot: PoolSnapshot) -> list[dict[str, Any]]:
    """CLUES' job list: the idle jobs by shape (see the module docstring)."""
    role = spec.roles[Role.EXECUTOR]
    out = []
    slot_cpus, slot_mem = float(max(1, int(role.cpus))), float(role.mem_mb)
    for shape in sorted(snapshot.idle_jobs, key=lambda s: (s.site or "", s.cpus, s.memory)):
        cpus = max(shape.cpus, 0.0)
        fits = [slot_cpus // cpus if cpus > 0 else slot_cpus,
                slot_mem // shape.memory if shape.memory > 0 else slot_cpus]
        per_node = int(min(fits))
        if per_node < 1:
            continue                  # no executor can hold it: no node would help
        out.append({
            "id": f"idle/{shape.site or '*'}/{shape.cpus:g}c/{shape.memory:g}MiB",
            "state": "PENDING", "cpus": cpus, "memory": int(shape.memory * MIB), "nodes": [],
            "taskcount": shape.count, "maxtaskspernode": max(1, per_node),
            "requests": [f'HTCMESOS_SITE == "{shape.site}"'] if shape.site else []})
    return out
