"""pymesos' own MesosSchedulerDriver against the emulator: an independent check that the
wire behaviour (chunked RecordIO stream, stream id, calls, implicit ACKs) is what a client
written for real masters expects."""
from __future__ import annotations

import threading

import pymesos.process as pm_process
from pymesos import MesosSchedulerDriver, Scheduler

from tests.framework.sim.rawclient import eventually, task_info


def pristine_connection() -> type:
    """pymesos' own Connection class, even if a wrapper module replaced it."""
    return next(c for c in pm_process.Connection.__mro__
                if c.__module__ == "pymesos.process" and c.__name__ == "Connection")


class Recorder(Scheduler):
    def __init__(self) -> None:
        self.framework_id: str | None = None
        self.offers: list[dict] = []
        self.updates: list[dict] = []
        self.errors: list[str] = []
        self.launched = False
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]

    def resourceOffers(self, driver, offers):  # noqa: N802 - pymesos' name
        with self.lock:
            self.offers.extend(offers)
            first, rest = (offers[0], offers[1:]) if not self.launched else (None, offers)
            self.launched = True
        if first is not None:
            driver.launchTasks(first["id"], [task_info("py-1", first, network=None)])
        if rest:
            driver.declineOffer([o["id"] for o in rest], {"refuse_seconds": 1000})

    def statusUpdate(self, driver, update):  # noqa: N802
        with self.lock:
            self.updates.append(update)

    def error(self, driver, message):
        self.errors.append(message)


def test_pymesos_driver(cluster, master, monkeypatch):
    monkeypatch.setattr(pm_process, "Connection", pristine_connection())
    sched = Recorder()
    driver = MesosSchedulerDriver(sched, {"user": "test", "name": "pymesos-check"}, master.address)
    driver.start()
    try:
        assert eventually(lambda: sched.framework_id is not None)
        assert eventually(lambda: any(u["state"] == "TASK_RUNNING" for u in sched.updates))
        assert [u["state"] for u in sched.updates][:2] == ["TASK_STARTING", "TASK_RUNNING"]
        fid = sched.framework_id
        # every update was acknowledged by pymesos (implicit ACKs): nothing pending
        assert eventually(lambda: not cluster.frameworks[fid].tasks["py-1"].pending)
        assert eventually(lambda: cluster.outstanding_offers(fid) == [])   # the rest declined
        assert cluster.task_states(fid) == {"py-1": "TASK_RUNNING"}
        info = cluster.frameworks[fid].info
        assert info["failover_timeout"] == 100 and {"type": "GPU_RESOURCES"} in info["capabilities"]
        assert sched.errors == []
    finally:
        driver.stop()          # not a failover: pymesos sends TEARDOWN
        driver.join()
    assert fid in cluster.removed_frameworks
    assert eventually(lambda: cluster.runner.live_tasks() == 0)
