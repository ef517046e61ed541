"""Publishing when the central manager moves: which task is the master, and the announcer.

:func:`running_master` (pure) picks the master task to publish from the framework's
records; :class:`Announcer` publishes its address when it differs from the last published
one and tells its listeners (the framework's own pool monitor follows the same record as
the daemons). A failed publication is logged and tried again after ``retry_s``.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from ..autoscaler.lifecycle import Phase
from ..clock import Clock
from ..errors import DiscoveryError
from ..model import Role
from .base import Publisher, Record

log = logging.getLogger(__name__)
Listener = Callable[[Record], None]


def running_master(records: Iterable) -> tuple[str, str] | None:
    """(task id, IP) of the master to publish: RUNNING with an IP and healthy (its collector
    answers: followers never switch to an address where no collector listens yet), the
    latest launched first; None while there is none."""
    masters = [r for r in records if r.role is Role.MASTER and r.phase is Phase.RUNNING
               and r.ip and r.healthy is True]
    if not masters:
        return None
    best = max(masters, key=lambda r: r.launched_at)
    return best.task_id, best.ip


class Announcer:
    """Publishes the master's address through ``publisher`` when it changes."""

    def __init__(self, publisher: Publisher, clock: Clock, retry_s: float = 5.0) -> None:
        self.publisher, self.clock, self.retry_s = publisher, clock, retry_s
        self.listeners: list[Listener] = []
        self.last: Record | None = None
        self.error: str = ""
        self._retry_at = float("-inf")

    def start(self) -> Record | None:
        """Learn what is published already (a restarted framework rewrites nothing) and
        tell the listeners; an unreachable store is logged, the first :meth:`observe`
        tries again."""
        try:
            self.last = self.publisher.current()
        except DiscoveryError as exc:
            self._failed(exc)
            return None
        if self.last is not None:
            self._tell(self.last)
        return self.last

    def observe(self, master: tuple[str, str] | None) -> Record | None:
        """The master as seen now (:func:`running_master`); the record published, if any."""
        if master is None:
            return None
        task_id, ip = master
        if self.last is not None and (self.last.task_id, self.last.address) == (task_id, ip):
            return None
        now = self.clock.now()
        if now < self._retry_at:
            return None
        try:
            record = Record(ip, task_id, self.clock.wall())
            self.publisher.publish(record)
        except DiscoveryError as exc:
            self._retry_at = now + self.retry_s
            self._failed(exc)
            return None
        self.error = ""
        log.info("central manager %s (task %s) published at %s", ip, task_id,
                 self.publisher.where)
        self.last = record
        self._tell(record)
        return record

    def _failed(self, exc: DiscoveryError) -> None:
        if str(exc) != self.error:
            log.warning("discovery: %s", exc)
        self.error = str(exc)

    def _tell(self, record: Record) -> None:
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - one listener never stops the others
                log.exception("discovery listener failed")

    def close(self) -> None:
        self.publisher.close()
