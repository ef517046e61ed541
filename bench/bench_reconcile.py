"""Reconciliation of N tasks (default 10,000) after a leader change, agents returning over
60 s: RECONCILE calls made (and task entries in them), time from the last agent's return
to fully reconciled, peak memory; no task may be lost or launched twice.

Real ZooKeeper (Debian ``zookeeper``, started here on loopback) holding two emulated
masters; the production framework; the new leader as strict as Mesos
(framework/sim/mesos/failover.py: it knows an agent's tasks only once the agent
re-registers, and answers explicit reconciliation as ``Master::_reconcileTasks``).
Baseline in the same run: the framework's earlier algorithm — RECONCILE without agent ids,
re-sent at a fixed 30 s while answers are missing. Framework and emulator share this one
process (peak RSS is for both).
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from framework.autoscaler.backoff import BackoffPolicy  # noqa: E402
from framework.autoscaler.lifecycle import Phase  # noqa: E402
from framework.backends.mesos import reconcile  # noqa: E402
from framework.backends.mesos.framework import Options  # noqa: E402
from framework.controller import run_framework  # noqa: E402
from framework.model import Role  # noqa: E402
from framework.sim.from_spec import site_layouts, with_mesos_backend  # noqa: E402
from framework.sim.mesos.cluster import SimCluster  # noqa: E402
from framework.sim.mesos.master import EmulatedMaster  # noqa: E402

from bench_failover import wait, zookeeper_here  # noqa: E402
from bench_offers import bench_spec  # noqa: E402  (the same pool as the offers benchmark)


def run(zk: ZooKeeperServer, n: int, window_s: float, baseline: bool, workdir: Path) -> dict:
    spec = bench_spec()
    layout = dataclasses.replace(site_layouts(spec, agents_per_site=1)[0],
                                 agents=n // 10 + 2, cpus=44, mem=90112, disk=110000)
    cluster = SimCluster.build([layout], seed=5, allocation_interval_s=0.5)
    url = zk.url(f"/mesos-bench-rec-{time.monotonic_ns()}")
    first = EmulatedMaster(cluster, heartbeat_s=5.0, zk=url).start()
    wait(lambda: first.is_leader, 15, "first leader")
    second = EmulatedMaster(cluster, heartbeat_s=5.0, zk=url).start()
    # the ramp is not what is measured: executors prove their site in 1 s, not 60
    opts = Options(reconcile_settle_s=0.5, refuse_s=1.0,
                   backoff=BackoffPolicy(early_s=1.0))
    if baseline:
        opts = dataclasses.replace(opts, reconcile_first_retry_s=30.0, reconcile_retry_s=30.0,
                                   reconcile_per_agent=False)
    stop = threading.Event()
    box: dict = {}
    spec = with_mesos_backend(spec, url, workdir / f"state-{baseline}.json")
    thread = threading.Thread(target=run_framework, args=(spec, stop), kwargs=dict(
        tick_s=0.2, options=opts, elastic=False, on_start=lambda fw: box.update(fw=fw)),
        daemon=True)
    thread.start()
    try:
        wait(lambda: "fw" in box, 10, "framework start")
        fw = box["fw"]
        wait(lambda: fw.status().master_address is not None and any(
            r.role is Role.SUBMITTER and r.confirmed for r in list(fw.records.values())), 120,
            "master and submitter")
        fw.set_desired_executors("dc", n)
        wait(lambda: sum(1 for r in list(fw.records.values()) if r.confirmed) >= n + 2, 600,
             f"{n} executors running", poll_s=0.5)
        before = {t for t, r in list(fw.records.items()) if r.phase.active}
        launches = fw.launches
        cluster.reregister_window_s = window_s
        calls_before = len(cluster.reconcile_calls)
        failover = time.monotonic()
        first.stop()
        wait(lambda: second.is_leader and fw.driver.master == second.address
             and fw.driver.connected, 60, "resubscribed")
        resubscribed = time.monotonic() - failover
        back = wait(lambda: not cluster.recovering, window_s + 60, "agents back", poll_s=0.05)
        done = wait(lambda: not fw.status().reconciling, 300, "reconciled", poll_s=0.05)
        calls = cluster.reconcile_calls[calls_before:]
        lost = sum(1 for t in before if fw.records[t].phase is Phase.ENDED)
        return {"resubscribed": resubscribed, "after_last": done - back,
                "calls": len(calls), "entries": sum(len(c) for c in calls),
                "lost": lost, "relaunched": fw.launches - launches,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    finally:
        stop.set()
        thread.join(30)
        for master in (first, second):
            master.stop()
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executors", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0,
                        help="agents re-register over this many seconds (seeded order)")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    with zookeeper_here() as (zk, tmp):
        rows = {"htcmesos": run(zk, args.executors, args.window, False, tmp)}
        if not args.skip_baseline:
            explicit = reconcile.explicit
            reconcile.explicit = lambda tasks: explicit(dict.fromkeys(tasks))  # no agents
            try:
                rows["baseline (no agent ids, every 30 s)"] = run(
                    zk, args.executors, args.window, True, tmp)
            finally:
                reconcile.explicit = explicit
    print(f"reconciliation of {args.executors} executors (+ master, submitter) after a leader "
          f"change; agents re-register over {args.window:g} s")
    for label, r in rows.items():
        print(f"  {label:<38} resubscribed {r['resubscribed']:.2f} s; reconciled "
              f"{r['after_last']:.1f} s after the last agent (target ≤ 5 s); {r['calls']} "
              f"RECONCILE calls, {r['entries']} task entries; lost {r['lost']}, relaunched "
              f"{r['relaunched']}; peak RSS {r['rss_mb']:.0f} MB")
    if len(rows) == 2:
        ours, base = rows.values()
        print(f"  ratio htcmesos / baseline, time after the last agent: "
              f"{ours['after_last'] / max(base['after_last'], 1e-9):.2f}×")


if __name__ == "__main__":
    main()
