"""Framework mode's main loop: driver + scheduler + periodic tick until asked to stop."""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .backends.credentials import FetchedCredentials, read_signing_key
from .backends.fetchserver import CredentialServer
from .backends.mesos.framework import MesosFramework, Options, PoolStatus, framework_info
from .clock import Clock, WallClock
from .discovery import Announcer, publisher_for, running_master
from .errors import BackendError
from .mesos.driver import Driver
from .monitor import PoolMonitor
from .planner import Decision
from .spec import ClusterSpec
from .state import StateStore, open_store

if TYPE_CHECKING:
    from .elastic_run import ElasticThread

log = logging.getLogger(__name__)


def read_secret(path: Path | None) -> str | None:
    """The Mesos principal's secret from its file (the value is never logged)."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BackendError(f"cannot read backend.mesos.secret_file {path}: "
                           f"{exc.strerror or exc}") from None


def _announcer(spec: ClusterSpec, clock: Clock) -> Announcer | None:
    """Publishes the master's address (``network.discovery``; None when ``none``) from a
    thread of its own; the loop below only hands it the master it sees."""
    publisher = publisher_for(spec)
    return Announcer(publisher, clock) if publisher is not None else None


def run_framework(spec: ClusterSpec, stop: threading.Event, *,
                  masters: str | None = None, store: StateStore | None = None,
                  clock: Clock | None = None, options: Options | None = None,
                  tick_s: float = 1.0,
                  on_status: Callable[[PoolStatus], None] | None = None,
                  on_start: Callable[[MesosFramework], None] | None = None,
                  elastic: bool | None = None,
                  on_decision: Callable[[Decision], None] | None = None,
                  monitor: PoolMonitor | None = None,
                  on_elastic: Callable[["ElasticThread"], None] | None = None) -> PoolStatus:
    """Run the framework until ``stop`` is set; the master keeps our tasks (failover).

    ``elastic`` (default: ``autoscaling.enabled``) runs the elastic loop beside it
    (:class:`~framework.elastic_run.ElasticThread`), which tells ``on_decision`` and
    keeps the operators' controls with the framework's state (they survive a restart);
    ``monitor`` replaces its view of the real pool (tests script one); ``on_elastic`` is
    handed that thread before it starts (its loop takes operators' requests)."""
    m = spec.backend.mesos
    if m is None:
        raise BackendError("the spec has no backend.mesos block")
    clock = clock or WallClock()
    key = read_signing_key(spec.pool.signing_key_file)   # once: agents never need the file
    tls = m.credential_tls
    with contextlib.ExitStack() as cleanup:
        server = CredentialServer(m.credential_listen, m.credential_url, clock.now,
                                  cert_file=str(tls[0]) if tls else None,
                                  key_file=str(tls[1]) if tls else None).start()
        cleanup.callback(server.stop)
        store = store or open_store(m.state)
        cleanup.callback(store.close)
        fw = MesosFramework(spec, store, clock, options,
                            FetchedCredentials(spec, key, server, clock.wall))
        info = framework_info(spec, fw.saved.framework_id, socket.gethostname())
        driver = Driver(fw, info, masters or m.master, principal=m.principal,
                        secret=read_secret(m.secret_file))
        fw.driver = driver
        if on_start:
            on_start(fw)
        driver.start()
        cleanup.callback(driver.stop, failover=True)
        announcer = _announcer(spec, clock)
        if announcer is not None:
            cleanup.callback(announcer.close)
        if spec.autoscaling.enabled if elastic is None else elastic:
            from .backends.mesos.controls import FrameworkControls
            from .backends.mesos.elastic import MesosBackend
            from .elastic_run import ElasticThread
            from .model import Role

            def master_ran() -> bool:
                return any(r.role is Role.MASTER and r.confirmed for r in fw.snapshot_records())
            thread = ElasticThread(spec, MesosBackend(fw), master_ran, key, clock, stop,
                                   on_decision, monitor, FrameworkControls(fw))
            if announcer is not None:
                announcer.listeners.append(thread.follow)
            if on_elastic is not None:
                on_elastic(thread)
            thread.start()
            cleanup.callback(thread.join, 30)
        if announcer is not None:
            announcer.start()               # its own thread: a hung store never stalls ticks
        status = fw.status()
        while not stop.wait(tick_s):
            status = fw.tick()
            if announcer is not None:       # the master moved: publish where it is now
                announcer.observe(running_master(fw.snapshot_records()))   # never blocks
            if on_status:
                on_status(status)
    return status
