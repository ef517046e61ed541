"""Marathon mode's main loop: the elastic loop on the pool's Marathon group.

Marathon keeps the apps running (restarts, health checks); ``htcmesos marathon apply``
puts their configuration in place; this loop sizes each site's executor app from the
queue (:class:`~framework.backends.marathon.backend.MarathonBackend`), draining executors
before it removes them, exactly as in framework mode. It starts asking the pool once the
master app has a healthy task, and keeps ticking whatever Marathon's state afterwards (an
unreachable Marathon is a failed tick, logged, and the next tick tries again).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable

from .backends.credentials import read_signing_key
from .backends.marathon.backend import MarathonBackend
from .backends.marathon.client import MarathonClient, client_for
from .backends.marathon.render import app_id
from .clock import Clock, WallClock
from .discovery import Announcer, publisher_for
from .elastic_run import ElasticThread
from .errors import BackendError
from .model import Role
from .monitor import PoolMonitor
from .planner import Decision
from .spec import ClusterSpec

log = logging.getLogger(__name__)
#: seconds between looks at the master app's task (discovery)
DISCOVERY_POLL_S = 2.0


def master_healthy(client: MarathonClient, spec: ClusterSpec) -> Callable[[], bool]:
    """Whether the master app has a running, healthy task (asked until it once has)."""
    master = app_id(spec, Role.MASTER)

    def ran() -> bool:
        try:
            return any(t.state == "TASK_RUNNING" and t.healthy is not False
                       for t in client.app_tasks(master))
        except BackendError as exc:
            log.info("master app not asked: %s", exc)
            return False
    return ran


def marathon_master(client: MarathonClient, spec: ClusterSpec) -> tuple[str, str] | None:
    """(task id, IP) of the master app's running, healthy task (the latest started), from
    ``GET /v2/apps/<master>/tasks`` ``ipAddresses``; None when there is none or Marathon
    does not answer (logged)."""
    try:
        tasks = client.app_tasks(app_id(spec, Role.MASTER))
    except BackendError as exc:
        log.info("master app not asked: %s", exc)
        return None
    running = [t for t in tasks if t.state == "TASK_RUNNING" and t.ip_addresses
               and t.ip_addresses[0] and t.healthy is True]
    if not running:
        return None
    best = max(running, key=lambda t: t.started_at or "")
    return best.id, best.ip_addresses[0]


def run_marathon(spec: ClusterSpec, stop: threading.Event, *, url: str | None = None,
                 clock: Clock | None = None,
                 on_decision: Callable[[Decision], None] | None = None,
                 monitor: PoolMonitor | None = None,
                 on_start: Callable[[ElasticThread], None] | None = None) -> None:
    """Size the pool's executor apps until ``stop`` is set."""
    clock = clock or WallClock()
    key = read_signing_key(spec.pool.signing_key_file)
    client = client_for(spec, url)
    backend = MarathonBackend(spec, client, clock)
    thread = ElasticThread(spec, backend, master_healthy(client, spec), key, clock, stop,
                           on_decision, monitor)
    publisher = publisher_for(spec)
    announcer = Announcer(publisher, clock) if publisher is not None else None
    with contextlib.ExitStack() as cleanup:
        if announcer is not None:
            cleanup.callback(announcer.close)
            announcer.listeners.append(thread.follow)
            announcer.start()           # writes on its own thread (as in framework mode)
        thread.start()
        cleanup.callback(thread.join, 30)
        if on_start is not None:
            on_start(thread)
        if announcer is None:
            stop.wait()
        while announcer is not None and not stop.wait(DISCOVERY_POLL_S):
            announcer.observe(marathon_master(client, spec))     # hands it over, never blocks
