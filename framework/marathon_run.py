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
from .elastic_run import ElasticThread
from .errors import BackendError
from .model import Role
from .monitor import PoolMonitor
from .planner import Decision
from .spec import ClusterSpec

log = logging.getLogger(__name__)


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
    with contextlib.ExitStack() as cleanup:
        thread.start()
        cleanup.callback(thread.join, 30)
        if on_start is not None:
            on_start(thread)
        stop.wait()
