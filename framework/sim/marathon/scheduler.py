"""The emulator's Mesos side: pymesos' MesosSchedulerDriver over HTTP, as Marathon's own
driver is set up (``MarathonSchedulerDriver.scala``: name ``marathon``, checkpoint,
failover timeout one week, capabilities PARTITION_AWARE and REGION_AWARE, explicit
acknowledgements — Marathon acknowledges an update once it has persisted it).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ...mesos.pymesos_import import import_pymesos

log = logging.getLogger(__name__)

FAILOVER_TIMEOUT_S = 604800.0
REFUSE_NO_DEMAND_S = 5.0
REFUSE_UNFIT_S = 1.0


def framework_info() -> dict[str, Any]:
    return {"user": "root", "name": "marathon", "checkpoint": True,
            "failover_timeout": FAILOVER_TIMEOUT_S, "hostname": "localhost",
            "capabilities": [{"type": "PARTITION_AWARE"}, {"type": "REGION_AWARE"}]}


import_pymesos()
from pymesos import MesosSchedulerDriver, Scheduler  # noqa: E402


class MarathonScheduler(Scheduler):
    """pymesos callbacks → the emulator (``owner``: an EmulatedMarathon)."""

    def __init__(self, owner: Any):
        self.owner = owner
        self.framework_id: str | None = None
        self.registered_event = threading.Event()

    # pymesos calls these on its IO thread (names are pymesos')
    def registered(self, driver: Any, framework_id: dict[str, Any], master_info: dict[str, Any]) -> None:
        self.framework_id = framework_id["value"]
        self.registered_event.set()
        self.owner._safely(self.owner._on_registered, master_info, True)

    def reregistered(self, driver: Any, master_info: dict[str, Any]) -> None:
        self.registered_event.set()
        self.owner._safely(self.owner._on_registered, master_info, False)

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:  # noqa: N802
        self.owner._safely(self.owner._on_offers, offers)

    def statusUpdate(self, driver: Any, status: dict[str, Any]) -> None:  # noqa: N802
        self.owner._safely(self.owner._on_status, status)
        if "uuid" in status:
            # a failed ACK is harmless (Mesos resends the update); an exception here would
            # abort pymesos' IO thread
            self.owner._safely(driver.acknowledgeStatusUpdate, status)

    def offerRescinded(self, driver: Any, offer_id: dict[str, Any]) -> None:  # noqa: N802
        pass

    def disconnected(self, driver: Any) -> None:
        log.info("marathon emulator: disconnected from the master")

    def error(self, driver: Any, message: str) -> None:
        log.warning("marathon emulator: master error: %s", message)


def make_driver(scheduler: MarathonScheduler, master: str) -> Any:
    return MesosSchedulerDriver(scheduler, framework_info(), master,
                                implicit_acknowledgements=False)


def call_safely(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - an emulator bug must not kill pymesos' IO thread
        log.exception("marathon emulator: %s failed", getattr(fn, "__name__", fn))
