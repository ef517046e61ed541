"""The operators' controls survive a framework restart in framework mode: saved with the
framework's state (FrameworkControls under the framework's lock, with the task records
as they are), restored by the next framework's elastic loop; the production framework
against the strict emulated Mesos master (no Docker), the pool scripted by a monitor."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.controls import FrameworkControls
from framework.backends.mesos.framework import MesosFramework, Options
from framework.clock import ManualClock
from framework.controls import Controls, SiteControl
from framework.controlstore import ControlsNotSaved
from framework.errors import BackendError
from framework.model import Role
from framework.monitor import PoolMonitor, PoolSnapshot, StartdInfo
from framework.sim.emulated_run import EmulatedRun
from framework.spec import ClusterSpec, parse_spec
from framework.state import FileStore, FrameworkState, StateStore
from tests.framework.backends.mesos.test_framework import FakeDriver, launched, settle
from tests.framework.backends.mesos.test_framework import SPEC as UNIT_SPEC
from tests.framework.backends.mesos.test_offers import raw_offer

WHO = "ops@127.0.0.1"

# -- the adapter on its own (a hand-written driver, a store that fails on demand) -------


class FlakyStore(StateStore):
    """A file store whose saves fail while ``fail`` is set."""

    def __init__(self, path: Path) -> None:
        self.file = FileStore(path)
        self.fail = False

    def load(self) -> FrameworkState:
        return self.file.load()

    def save(self, state: FrameworkState) -> None:
        if self.fail:
            raise BackendError("zk connection lost")
        self.file.save(state)


def framework(tmp_path: Path) -> tuple[MesosFramework, FakeDriver, ManualClock, FlakyStore]:
    clock, store = ManualClock(), FlakyStore(tmp_path / "state.json")
    fw = MesosFramework(UNIT_SPEC, store, clock, Options(reconcile_settle_s=1))
    driver = FakeDriver()
    fw.registered(driver, {"value": "fw-1"}, {"hostname": "m"})
    return fw, driver, clock, store


def test_controls_are_saved_with_the_task_records_as_they_are(tmp_path):
    fw, driver, clock, store = framework(tmp_path)
    settle(fw, clock)
    fw.resourceOffers(driver, [raw_offer(1)])
    tasks = {i["task_id"]["value"]: "a1" for i in launched(driver)}
    assert tasks and store.load().tasks == tasks
    doc = Controls.from_spec(UNIT_SPEC).with_drained("beta", True).to_doc(UNIT_SPEC)
    adapter = FrameworkControls(fw)
    assert adapter.load() is None
    adapter.save(doc)
    assert store.load() == FrameworkState("fw-1", tasks, doc)
    assert adapter.load() == doc and adapter.load() is not fw.saved.controls   # a copy
    fw.tick()                                      # the book's own saves keep them
    update = {"task_id": {"value": next(iter(tasks))}, "state": "TASK_FAILED",
              "agent_id": {"value": "a1"}}
    fw.statusUpdate(driver, update)
    fw.tick()
    saved = store.load()
    assert saved.controls == doc and set(saved.tasks) == set(tasks) - {next(iter(tasks))}


def test_a_failed_save_says_why_and_the_framework_saves_it_on_its_next_tick(tmp_path):
    fw, _, clock, store = framework(tmp_path)
    doc = Controls.from_spec(UNIT_SPEC).with_paused(True).to_doc(UNIT_SPEC)
    store.fail = True
    with pytest.raises(ControlsNotSaved, match="^the framework state cannot be saved: zk "
                                               "connection lost$"):
        FrameworkControls(fw).save(doc)
    assert store.load().controls is None and fw.saved_controls() == doc
    store.fail = False
    fw.tick()
    assert store.load() == FrameworkState("fw-1", {}, doc)


# -- framework mode end to end -------------------------------------------------------

SPEC = """
pool: {name: oprs, trust_domain: oprs.example, signing_key_file: key}
sites:
  - {name: dc, calico: {network: calico-dc, cidr: 10.1.0.0/16}, executors: {min: 0, max: 4}}
  - name: campus
    agents: {region: campus-east}
    private: true
    calico: {network: calico-campus, cidr: 10.2.0.0/16}
    executors: {min: 0, max: 3}
roles:
  master: {image: m, cpus: 1, mem: 1024}
  submitter: {image: s, cpus: 1, mem: 1024}
  executor: {image: e, cpus: 2, mem: 2048, disk: 1024}
autoscaling: {enabled: true, max_executors: 8, max_launches_per_tick: 4, tick: 0.1,
              scale_up_cooldown: 0, scale_down_cooldown: 0, idle_before_scale_in: 1}
backend: {type: sim, sim: {agents_per_site: 3, seed: 5}}
"""
# the same pool without campus (taken out of the spec while the framework was down)
SPEC_NO_CAMPUS = SPEC.replace("""  - name: campus
    agents: {region: campus-east}
    private: true
    calico: {network: calico-campus, cidr: 10.2.0.0/16}
    executors: {min: 0, max: 3}
""", "")
FAST = Options(reconcile_settle_s=0.3, refuse_s=0.3, idle_refuse_s=1.0)


class IdlePool(PoolMonitor):
    """Always fresh: no job, and an idle startd ad for each running executor, so the
    queue alone would drain every one of them (reason DRAIN; idle_before_scale_in: 1 s)
    and only a desired size keeps them."""

    def __init__(self) -> None:
        self.fw: MesosFramework | None = None

    def snapshot(self, now: float) -> PoolSnapshot:
        fw = self.fw
        records = fw.snapshot_records() if fw is not None else []
        ads = tuple(StartdInfo(f"slot1@{r.task_id}", r.task_id, r.site, 2.0, 2048.0, 2.0,
                               2048.0, 0, False, time.time(), idle_since=now - 60)
                    for r in records if r.role is Role.EXECUTOR and r.confirmed
                    and r.phase is not Phase.ENDED)
        return PoolSnapshot(now, True, ads, (), {s: 0 for s in ("dc", "campus")}, data_at=now)


def parse(text: str, tmp_path: Path) -> ClusterSpec:
    (tmp_path / "key").write_text("operator restart test signing key\n")
    return parse_spec(text, "oprs", tmp_path)


def start(run: EmulatedRun, pool: IdlePool):
    """Start the framework of ``run``; its elastic loop once it was made."""
    run.start(on_start=lambda fw: setattr(pool, "fw", fw))
    return run.wait(lambda: run.elastic_thread is not None and run.elastic_thread.loop, 10,
                    "the elastic loop made")


def said(caplog) -> list[str]:
    """What the loop's control keeper logged (other threads log too meanwhile)."""
    return [r.getMessage() for r in caplog.records if r.name == "framework.controlstore"]


def dc_executors(run: EmulatedRun) -> set[str]:
    return {r.task_id for r in run.records() if r.role is Role.EXECUTOR and r.site == "dc"
            and r.confirmed and r.phase is not Phase.ENDED}


def test_a_restarted_framework_keeps_the_operators_changes(tmp_path, caplog):
    spec, pool = parse(SPEC, tmp_path), IdlePool()
    state = tmp_path / "state.json"
    run = EmulatedRun(spec, tmp_path, elastic=True, monitor=pool, tick_s=0.1,
                      allocation_interval_s=0.1, options=FAST)
    try:
        loop = start(run, pool)
        assert loop.drain_site("campus", WHO)["saved"] is True
        assert loop.set_site("dc", {"desired": 2}, WHO) == {
            "site": "dc", "min": 0, "max": 4, "desired": 2, "drained": False, "saved": True}
        run.wait(lambda: len(dc_executors(run)) == 2, 15, "2 dc executors running")
        before = loop.controls
        assert before == Controls.from_spec(spec).with_drained("campus", True).with_site(
            "dc", {"desired": 2})
        saved = json.loads(state.read_text())
        assert saved["controls"] == before.to_doc(spec)
        live = {r.task_id for r in run.records() if r.phase is not Phase.ENDED}
        assert set(saved["tasks"]) == live                 # no task record lost
        fid = saved["framework_id"]

        # stopped (failover: the master keeps the tasks) and started again on the same
        # master and state file
        run.stop.set()
        run.join(30)
        assert not run._thread.is_alive() and run.error is None
        run.stop, run.elastic_thread = threading.Event(), None
        with caplog.at_level(logging.INFO, logger="framework.controlstore"):
            again = start(run, pool)
        assert again is not loop and again.controls == before
        assert said(caplog) == [
            "the operators' controls of pool oprs restored: site campus drained; "
            "site dc desired 2"]
        # it keeps them: after reconciliation and ticks of its own, the same two dc
        # executors, wanted and never to be drained (the queue alone would), none at campus
        run.wait(lambda: again.status.totals().ticks >= 10, 15, "ten ticks of the new loop")
        latest, totals = again.status.latest(), again.status.totals()
        assert latest.site("dc").desired == 2 and latest.site("dc").wanted == 2
        assert latest.site("campus").drained and latest.site("campus").wanted == 0
        assert "DRAIN" not in totals.reasons and not totals.launches and not totals.drains
        assert len(dc_executors(run)) == 2 and dc_executors(run) <= set(saved["tasks"])
        assert json.loads(state.read_text())["framework_id"] == fid
    finally:
        run.close()

    # the spec lost campus meanwhile: its controls are dropped, dc's kept
    caplog.clear()
    pool = IdlePool()
    spec = parse(SPEC_NO_CAMPUS, tmp_path)
    with EmulatedRun(spec, tmp_path, elastic=True, monitor=pool, tick_s=0.1,
                     allocation_interval_s=0.1, options=FAST) as run:
        with caplog.at_level(logging.WARNING, logger="framework.controlstore"):
            third = start(run, pool)
        assert third.controls.sites == {"dc": SiteControl(0, 4, 2)}
        assert said(caplog) == [
            "saved controls of site 'campus' dropped: the spec has no such site"]
        assert json.loads(state.read_text())["controls"] == third.controls.to_doc(spec)
