"""Publishing when the central manager moves: which task is the master, and the announcer.

:func:`running_master` (pure) picks the master task to publish from the framework's
records: the one :func:`~framework.backends.mesos.needs.keep_first` keeps when there are
two (the surplus kill spares the same one). :class:`Announcer` publishes its address on a
daemon thread of its own, so a store that hangs (ZooKeeper or a Consul agent that drops
packets: each try can block for the client's timeout) never holds up the caller's loop:
the loop only hands over the master it sees (:meth:`Announcer.observe`, never blocks),
the thread writes the latest one wanted when it differs from the published one, and tells
its listeners (the framework's own pool monitor follows the same record as the daemons).
A failed publication is logged and tried again after ``retry_s``, doubling up to
``max_retry_s`` while the store stays unreachable.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from ..autoscaler.lifecycle import Phase
from ..clock import Clock
from ..errors import DiscoveryError
from ..model import Role
from .base import Publisher, Record

log = logging.getLogger(__name__)
Listener = Callable[[Record], None]


def running_master(records: Iterable) -> tuple[str, str] | None:
    """(task id, IP) of the master to publish; None while there is none.

    Of the live masters (two after a restart adopted a duplicate or one came back from a
    partition) it is the one the framework keeps (``needs.keep_first``: healthy, never
    away, oldest), and only once it is RUNNING with an IP and healthy (its collector
    answers: followers never switch to an address where no collector listens yet). While
    the kept one is not publishable, nothing is: publishing the other one would point the
    pool at a task about to be killed as surplus."""
    from ..backends.mesos.needs import ACTIVE, keep_first
    masters = [r for r in records if r.role is Role.MASTER and r.phase in ACTIVE]
    if not masters:
        return None
    best = keep_first(masters)[0]
    if best.phase is not Phase.RUNNING or not best.ip or best.healthy is not True:
        return None
    return best.task_id, best.ip


class Announcer:
    """Publishes the master's address through ``publisher`` when it changes, from a thread
    of its own (:meth:`start` … :meth:`close`)."""

    def __init__(self, publisher: Publisher, clock: Clock, retry_s: float = 5.0,
                 max_retry_s: float = 60.0, join_s: float = 10.0) -> None:
        self.publisher, self.clock = publisher, clock
        self.retry_s, self.max_retry_s, self.join_s = retry_s, max(retry_s, max_retry_s), join_s
        self.listeners: list[Listener] = []
        self.last: Record | None = None     # the published record, as far as we know
        self.error: str = ""                # the last failure ("" after a success)
        self._cond = threading.Condition()
        self._wanted: tuple[str, str] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread: it first learns what is published already (a restarted
        framework rewrites nothing; the listeners are told), then publishes what
        :meth:`observe` hands it. An unreachable store is logged; publishing goes on."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="htcmesos-announcer",
                                        daemon=True)
        self._thread.start()

    def observe(self, master: tuple[str, str] | None) -> None:
        """The master as seen now (:func:`running_master`): the thread publishes it if it
        differs from the published record (the latest one handed over wins). Never blocks
        on the store."""
        if master is None:
            return
        with self._cond:
            if self._wanted != master:
                self._wanted = master
                self._cond.notify_all()

    def stop(self) -> bool:
        """Ask the thread to end and wait for it (``join_s`` at most: a write blocked in
        the client ends with the client's timeout); True if it ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_s)
            return not thread.is_alive()
        return True

    def close(self) -> None:
        """Stop the thread, then release the publisher's connections."""
        if not self.stop():
            log.warning("discovery: the announcer did not end within %.0f s", self.join_s)
        self.publisher.close()

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.last = self.publisher.current()
        except DiscoveryError as exc:
            self._failed(exc)
        else:
            if self.last is not None:
                self._tell(self.last)
        delay = self.retry_s
        while True:
            with self._cond:
                while not self._stopping and (self._wanted is None or self._published(
                        self._wanted)):
                    self._cond.wait()
                if self._stopping:
                    return
                task_id, ip = self._wanted
            try:
                record = Record(ip, task_id, self.clock.wall())
                self.publisher.publish(record)
            except DiscoveryError as exc:
                self._failed(exc)
                with self._cond:            # back off; only stop() cuts the wait short
                    self._cond.wait_for(lambda: self._stopping, delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            except Exception:  # noqa: BLE001 - a bug in a publisher must not end publishing
                log.exception("discovery: publishing failed")
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            delay = self.retry_s
            self.error = ""
            log.info("central manager %s (task %s) published at %s", ip, task_id,
                     self.publisher.where)
            self.last = record
            self._tell(record)

    def _published(self, master: tuple[str, str]) -> bool:
        last = self.last
        return last is not None and (last.task_id, last.address) == master

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
