"""The elastic loop of framework mode, in a thread of its own next to the driver's.

Every ``autoscaling.tick`` seconds, once the central manager is healthy: a snapshot of the
real pool (:class:`~framework.monitor.condor.CondorMonitor`, queries in the bindings
worker, never in this process), a plan, and the actuator on the framework
(:class:`~framework.backends.mesos.elastic.MesosBackend`) and on HTCondor
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
from typing import Callable

from .actuator.condor import CondorControl
from .actuator.hooks import CluesHooks, HookRunner
from .backends.mesos.elastic import MesosBackend
from .backends.mesos.framework import MesosFramework
from .clock import Clock
from .condor.config import collector_address
from .condor.tokens import mint_admin_token
from .condor.workerclient import CondorWorker
from .elastic import ElasticLoop
from .model import Role
from .monitor.condor import CondorMonitor
from .planner import Decision
from .spec import ClusterSpec

log = logging.getLogger(__name__)


class ElasticThread(threading.Thread):
    """Runs the elastic loop until ``stop`` is set (see the module docstring)."""

    def __init__(self, spec: ClusterSpec, fw: MesosFramework, key: bytes, clock: Clock,
                 stop: threading.Event,
                 on_decision: Callable[[Decision], None] | None = None) -> None:
        super().__init__(name="htcmesos-elastic", daemon=True)
        self.spec, self.fw, self.clock, self.stop_event = spec, fw, clock, stop
        self.on_decision = on_decision
        self.tokens = Path(tempfile.mkdtemp(prefix="htcmesos-tokens-"))
        os.chmod(self.tokens, 0o700)
        token = self.tokens / "htcmesos"
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(mint_admin_token(key, spec.pool.trust_domain, clock.wall()) + "\n")
        self.worker = CondorWorker({"_CONDOR_TRUST_DOMAIN": spec.pool.trust_domain,
                                    "_CONDOR_SEC_TOKEN_DIRECTORY": str(self.tokens),
                                    "_CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS": "IDTOKENS"})
        policy = spec.autoscaling
        self.hooks = HookRunner(policy.hooks_folder, policy.hooks_timeout_s) \
            if policy.hooks_folder else None
        self.loop = ElasticLoop(spec, CondorMonitor(self.worker,
                                                    collector_address(spec.master_address)),
                                MesosBackend(fw), CondorControl(self.worker),
                                CluesHooks(self.hooks) if self.hooks else None)
        self.last: Decision | None = None

    def run(self) -> None:
        tick = self.spec.autoscaling.tick_s
        try:
            while not self.stop_event.wait(tick):
                if not any(r.role is Role.MASTER and r.confirmed
                           for r in self.fw.snapshot_records()):
                    continue              # nothing to ask before the collector runs
                try:
                    self.last = self.loop.tick(self.clock.now())
                except Exception:  # noqa: BLE001 - the loop never dies of one tick
                    log.exception("elastic tick failed")
                    continue
                if self.on_decision is not None:
                    self.on_decision(self.last)
        finally:
            self.worker.close()
            if self.hooks is not None:
                self.hooks.close()
            shutil.rmtree(self.tokens, ignore_errors=True)
