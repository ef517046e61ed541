"""The elastic loop of framework and Marathon mode, in a thread of its own.

Every ``autoscaling.tick`` seconds, once the central manager is healthy: a snapshot of the
real pool (:class:`~framework.monitor.condor.CondorMonitor`, queries in the bindings
worker, never in this process), a plan, and the actuator on the backend (the framework's
:class:`~framework.backends.mesos.elastic.MesosBackend`, Marathon's
:class:`~framework.backends.marathon.backend.MarathonBackend`) and on HTCondor
(:class:`~framework.actuator.condor.CondorControl`). The framework's own token (drains)
sits in a private temporary folder for the worker; the folder goes when the loop stops.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .actuator.condor import CondorControl
from .api.server import ApiServer
from .actuator.hooks import CluesHooks, HookRunner
from .actuator import Backend
from .clock import Clock
from .controlstore import ControlStore
from .condor.config import collector_address
from .condor.tokens import mint_admin_token
from .condor.workerclient import CondorWorker
from .elastic import ElasticLoop
from .errors import HtcmesosError
from .monitor import PoolMonitor
from .monitor.condor import CondorMonitor
from .planner import Decision
from .spec import ClusterSpec

if TYPE_CHECKING:
    from .discovery import Record

log = logging.getLogger(__name__)


def query_deadline(tick_s: float) -> float:
    """Seconds one tick's pool query may take: two ticks, within 5–20 s. A collector that
    takes connections and never answers (frozen) then costs a tick or two, not 20 s each:
    the loop keeps deciding (stale: nothing removed) and says why."""
    return max(5.0, min(20.0, 2 * tick_s))


class ElasticThread(threading.Thread):
    """Runs the elastic loop until ``stop`` is set (see the module docstring)."""

    def __init__(self, spec: ClusterSpec, backend: Backend, started: Callable[[], bool],
                 key: bytes, clock: Clock, stop: threading.Event,
                 on_decision: Callable[[Decision], None] | None = None,
                 monitor: PoolMonitor | None = None,
                 controls_store: ControlStore | None = None) -> None:
        """``started``: whether the central manager has run (nothing to ask before);
        ``monitor``: the pool's monitor (default: the real pool's
        :class:`~framework.monitor.condor.CondorMonitor`; tests script one);
        ``controls_store``: where the operators' controls are kept across restarts
        (framework mode: with the framework's state; None: nowhere)."""
        super().__init__(name="htcmesos-elastic", daemon=True)
        self.spec, self.started, self.clock, self.stop_event = spec, started, clock, stop
        self.on_decision = on_decision
        self.tokens = Path(tempfile.mkdtemp(prefix="htcmesos-tokens-"))
        os.chmod(self.tokens, 0o700)
        token = self.tokens / "htcmesos"
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(mint_admin_token(key, spec.pool.trust_domain, clock.wall()) + "\n")
        self.worker = CondorWorker({"_CONDOR_TRUST_DOMAIN": spec.pool.trust_domain,
                                    "_CONDOR_SEC_TOKEN_DIRECTORY": str(self.tokens),
                                    "_CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS": "IDTOKENS"},
                                   timeout_s=query_deadline(spec.autoscaling.tick_s))
        policy = spec.autoscaling
        self.hooks = HookRunner(policy.hooks_folder, policy.hooks_timeout_s) \
            if policy.hooks_folder else None
        if monitor is None:
            monitor = CondorMonitor(self.worker, collector_address(spec.master_address))
        self.loop = ElasticLoop(spec, monitor, backend, CondorControl(self.worker),
                                CluesHooks(self.hooks) if self.hooks else None, wall=clock.wall,
                                controls_store=controls_store)
        self.last: Decision | None = None
        self.api: ApiServer | None = None
        #: set once the API was started, or failed to (then ``api`` stays None)
        self.api_ready = threading.Event()

    def follow(self, record: "Record") -> None:
        """The central manager moved (discovery, docs/discovery.md): ask its collector."""
        monitor = self.loop.monitor
        if isinstance(monitor, CondorMonitor) and monitor.collector != record.collector:
            log.info("pool monitor follows the central manager to %s", record.collector)
            monitor.collector = record.collector

    def run(self) -> None:
        tick = self.spec.autoscaling.tick_s
        try:
            try:
                self.api = self._start_api()
            finally:
                self.api_ready.set()
            started = False
            while not self.stop_event.wait(tick):
                # nothing to ask before the collector first runs; from then on the loop
                # ticks whatever the master's state: an unhealthy or replaced master is
                # a stale snapshot, which scales nothing in and says why
                started = started or self.started()
                if not started:
                    continue
                try:
                    self.last = self.loop.tick(self.clock.now())
                except Exception:  # noqa: BLE001 - the loop never dies of one tick
                    log.exception("elastic tick failed")
                    continue
                if self.on_decision is not None:
                    self.on_decision(self.last)
        finally:
            if self.api is not None:
                self.api.stop()
            self.worker.close()
            if self.hooks is not None:
                self.hooks.close()
            shutil.rmtree(self.tokens, ignore_errors=True)

    def _start_api(self) -> ApiServer | None:
        """The operators' app (dashboard, REST API, metrics; CLUES' view and power
        requests) on ``api.listen``; a failure to start it is logged and the pool runs on
        without it."""
        from dashboards.auth import TokenBook

        api = self.spec.api
        if not api.listen:
            return None
        tokens = None
        if api.token_file is not None:
            try:
                tokens = TokenBook.read(api.token_file)
            except HtcmesosError as exc:
                log.error("API not started: %s", exc)
                return None
        try:
            return ApiServer(api.listen, self.loop, tokens).start()
        except (HtcmesosError, OverflowError, OSError) as exc:
            level = logging.ERROR if self.spec.autoscaling.driver == "clues" else logging.WARNING
            log.log(level, "%s; the pool runs without its API", exc)
            return None


def announce_dashboard(thread: ElasticThread, echo: Callable[[str], None],
                       timeout_s: float = 30.0, wait: bool = False) -> None:
    """Say where ``thread`` serves the dashboard and API, and where the token for changes
    is, once it listens (or that it could not); ``wait``: here, else from a thread of its
    own (the thread may not have started yet)."""
    if not wait:
        threading.Thread(target=announce_dashboard, args=(thread, echo, timeout_s, True),
                         name="htcmesos-announce", daemon=True).start()
        return
    if not thread.api_ready.wait(timeout_s):
        return
    if thread.api is None:
        echo("the dashboard and API are not served (see the log above)")
        return
    url, token = thread.api.url, thread.spec.api.token_file
    echo(f"dashboard: {url}/  (REST API {url}/api/v1, metrics {url}/metrics; token for "
         f"changes: {token or 'none: set api.token_file'})")
