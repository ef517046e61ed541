"""Offers taken back while the pool ramps up: 1,000 rescinds racing the framework's ACCEPTs
during a 1,000-executor ramp (emulated master over HTTP, simulated tasks) leave exactly the
desired executors, none twice, none missing, in the framework's book and the master's."""
from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

from framework.autoscaler.backoff import BackoffPolicy
from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.framework import Options
from framework.model import Role
from framework.sim.from_spec import site_layouts, with_mesos_backend
from framework.sim.mesos.cluster import SimCluster
from framework.sim.mesos.master import EmulatedMaster
from framework.spec import parse_spec
from tests.framework.test_framework_mode import Running
from tests.waiting import wait_for

PER_SITE = 500
RESCINDS = 1000
SPEC = f"""
pool: {{name: ramp, trust_domain: ramp.example, signing_key_file: key}}
sites:
  - {{name: dc, calico: {{network: calico-dc, cidr: 10.1.0.0/16}},
     executors: {{min: {PER_SITE}, max: 600}}}}
  - {{name: campus, calico: {{network: calico-campus, cidr: 10.2.0.0/16}},
     executors: {{min: {PER_SITE}, max: 600}}}}
roles:
  master: {{image: m, cpus: 1, mem: 1024}}
  submitter: {{image: s, cpus: 1, mem: 1024}}
  executor: {{image: e, cpus: 1, mem: 1024, disk: 1024}}
autoscaling: {{enabled: false, max_launches_per_tick: 200}}
backend: {{type: sim, sim: {{agents_per_site: 50}}}}
"""


def test_a_thousand_rescinds_during_a_thousand_executor_ramp(tmp_path: Path):
    (tmp_path / "key").write_text("ramp key\n")
    spec = parse_spec(SPEC, "ramp", tmp_path)
    # 50 agents a site with room for 12 executors each: 600, so a duplicate would fit
    cluster = SimCluster.build(site_layouts(spec, executors_per_agent=12), seed=5,
                               allocation_interval_s=0.1)
    master = EmulatedMaster(cluster, heartbeat_s=1.0).start()
    options = Options(reconcile_settle_s=0.3, refuse_s=0.3, idle_refuse_s=1.0,
                      backoff=BackoffPolicy(base_s=0.2, max_s=2, prove_s=0.2))
    run = Running(with_mesos_backend(spec, master.url, tmp_path / "state.json"),
                  options=options)
    rescinded: list[str] = []
    running_at_last_rescind: list[int] = []
    stop = threading.Event()

    def executors_running() -> int:
        return len(run.active(Role.EXECUTOR, running=True))

    def rescinder() -> None:
        rng = random.Random(7)
        for _ in range(200_000):                 # bounded: ends long before this
            if len(rescinded) >= RESCINDS or stop.is_set():
                break
            offers = cluster.outstanding_offers()
            # spread over the ramp: about one rescind per launch so far
            if offers and len(rescinded) < run.fw.launches:
                rescinded.extend(cluster.rescind(rng.choice(offers)))
            else:
                stop.wait(0.002)                 # the next offer comes with the next cycle
        running_at_last_rescind.append(executors_running())

    try:
        wait_for(lambda: run.active(Role.SUBMITTER, running=True), 30, "submitter up")
        thread = threading.Thread(target=rescinder, daemon=True)
        thread.start()
        thread.join(120)
        assert len(rescinded) == RESCINDS and len(set(rescinded)) == RESCINDS
        # the ramp was still under way when the last offer was taken back
        assert 0 < running_at_last_rescind[0] < 2 * PER_SITE
        assert cluster.invalid_accepts > 0            # ACCEPTs did hit rescinded offers
        wait_for(lambda: executors_running() == 2 * PER_SITE, 120, "the ramp done")
        # settled: nothing launching or starting, the book and the master agree
        wait_for(lambda: not [r for r in run.fw.records.values()
                              if r.phase in (Phase.LAUNCHING, Phase.STARTING)], 30, "quiet")
        active = {r.task_id: r for r in run.active(Role.EXECUTOR)}
        assert Counter(r.site for r in active.values()) == {"dc": PER_SITE, "campus": PER_SITE}
        states = cluster.task_states(run.fw.saved.framework_id)
        live = {t for t, s in states.items() if s == "TASK_RUNNING" and ".executor." in t}
        assert live == set(active)                    # none twice, none missing, no orphan
        # each task of an ACCEPT on a rescinded offer: TASK_DROPPED, replaced, no back-off
        dropped = [r for r in run.fw.records.values() if r.state == "TASK_DROPPED"]
        assert len(dropped) == cluster.invalid_accept_tasks > 0
        print(f"rescinds {len(rescinded)}, ACCEPTs on rescinded offers "
              f"{cluster.invalid_accepts} ({len(dropped)} tasks dropped and replaced), "
              f"executors running at the last rescind {running_at_last_rescind[0]}, "
              f"launches {run.fw.launches}")
        assert "BLACK_HOLE" not in dict(run.fw.status().reasons)
    finally:
        stop.set()
        run.close()
        master.stop()
        cluster.close()
