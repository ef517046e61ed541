"""Marathon mode against an emulated cluster: the strict Marathon emulator on the emulated
Mesos master, the pool's group applied by the production ``apply``, and the production
elastic loop (:func:`framework.marathon_run.run_marathon`) sizing its executor apps.

What ``htcmesos demo --backend marathon``, the end-to-end tests and the benchmarks share,
as :class:`~framework.sim.emulated_run.EmulatedRun` is for framework mode. The secret
store the emulator resolves references from is a folder written with
:func:`framework.backends.marathon.secrets.write_store`, as an operator would fill theirs.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..autoscaler.lifecycle import Phase
from ..backends.credentials import read_signing_key
from ..backends.marathon.apply import apply, plan_apply
from ..backends.marathon.client import MarathonClient, MarathonTask
from ..backends.marathon.render import app_id, render_group
from ..backends.marathon.secrets import write_store
from ..condor.brokers import plan_brokers
from ..marathon_run import run_marathon
from ..model import IMAGE_ROLES, Role
from ..monitor import PoolMonitor
from ..spec import ClusterSpec, MarathonBackendSpec
from .from_spec import site_layouts
from .marathon import EmulatedMarathon
from .mesos.cluster import SimCluster
from .mesos.master import EmulatedMaster
from .runner import TaskRunner

T = TypeVar("T")

_PHASES = {"TASK_STAGING": Phase.STARTING, "TASK_STARTING": Phase.STARTING,
           "TASK_RUNNING": Phase.RUNNING, "TASK_KILLING": Phase.KILLING,
           "TASK_UNREACHABLE": Phase.UNREACHABLE}


@dataclasses.dataclass(frozen=True)
class MarathonRecord:
    """One Marathon task as the demo's views read a framework-mode TaskRecord."""

    task_id: str
    role: Role
    site: str
    state: str
    phase: Phase
    confirmed: bool            # running and healthy
    agent_id: str
    ip: str | None
    healthy: bool | None
    message: str = ""


def with_marathon_backend(spec: ClusterSpec, url: str) -> ClusterSpec:
    """``spec`` pointed at a Marathon (the emulator's url)."""
    old = spec.backend.marathon
    marathon = dataclasses.replace(old, url=url) if old is not None \
        else MarathonBackendSpec(url=url)
    return dataclasses.replace(spec, backend=dataclasses.replace(spec.backend, type="marathon",
                                                                 marathon=marathon))


class MarathonRun:
    """One Marathon-mode run on an emulated cluster (apply, start, wait, close)."""

    def __init__(self, spec: ClusterSpec, workdir: Path, runner: TaskRunner | None = None,
                 agents_per_site: int | None = None, allocation_interval_s: float = 0.2,
                 stop: threading.Event | None = None,
                 on_decision: Callable[[Any], None] | None = None,
                 monitor: PoolMonitor | None = None) -> None:
        self.cluster = SimCluster.build(site_layouts(spec, agents_per_site, runner=runner),
                                        seed=spec.backend.sim.seed,
                                        allocation_interval_s=allocation_interval_s)
        self.master = EmulatedMaster(self.cluster, heartbeat_s=2.0).start()
        self.secrets = workdir / "marathon-secrets"
        self.marathon = EmulatedMarathon(self.master.url, secrets_dir=self.secrets).start()
        self.spec = with_marathon_backend(spec, self.marathon.url)
        self.client = MarathonClient(self.marathon.url)
        self.on_decision, self.monitor = on_decision, monitor
        self.stop = stop or threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        central = self.spec.master_site.name          # master and submitter run there
        self._apps = {app_id(self.spec, role, site.name): (role, site.name)
                      for role in IMAGE_ROLES for site in self.spec.sites
                      if role is Role.EXECUTOR or site.name == central}
        self._apps.update({app_id(self.spec, Role.BROKER, central, b.index): (Role.BROKER, central)
                           for b in plan_brokers(self.spec).extra})    # docs/brokers.md
        write_store(self.spec, read_signing_key(self.spec.pool.signing_key_file), self.secrets,
                    self.cluster.clock.wall())

    def apply(self, echo: Callable[[str], None] = lambda _: None, wait: bool = False,
              timeout_s: float = 600) -> Any:
        """``htcmesos marathon apply`` of the spec's group (what it returns)."""
        current = self.client.get_group(render_group(self.spec)["id"])
        plan = plan_apply(render_group(self.spec), current)
        return apply(self.client, plan, wait=wait, timeout_s=timeout_s, echo=echo)

    def start(self) -> "MarathonRun":
        """Run the elastic loop on the group in a thread."""
        def main() -> None:
            try:
                run_marathon(self.spec, self.stop, on_decision=self.on_decision,
                             monitor=self.monitor)
            except BaseException as exc:  # noqa: BLE001 - surfaced by wait()
                self.error = exc
        self._thread = threading.Thread(target=main, name="marathon-run", daemon=True)
        self._thread.start()
        return self

    def tasks(self, role: Role | None = None, site: str | None = None) -> list[MarathonTask]:
        """Marathon's tasks of the group's apps (by role / site)."""
        out = []
        for app, (r, s) in self._apps.items():
            if (role is None or r is role) and (site is None or s == site):
                if self.marathon.app(app) is not None:
                    out.extend(self.client.app_tasks(app))
        return out

    def records(self) -> list[MarathonRecord]:
        """The group's tasks as records (what the demo's views and workload read)."""
        out = []
        for app, (role, site) in self._apps.items():
            if self.marathon.app(app) is None:
                continue
            for t in self.client.app_tasks(app):
                phase = _PHASES.get(t.state, Phase.ENDED)
                out.append(MarathonRecord(t.id, role, site, t.state, phase,
                                          t.state == "TASK_RUNNING" and t.healthy is True,
                                          t.agent_id, t.ip_addresses[0] if t.ip_addresses
                                          else None, t.healthy))
        return out

    def wait(self, predicate: Callable[[], T], timeout_s: float, what: str = "condition",
             poll_s: float = 0.2) -> T:
        """The first truthy ``predicate()``; AssertionError naming ``what`` on timeout."""
        import time
        deadline = time.monotonic() + timeout_s
        while True:
            if self.error is not None:
                raise AssertionError(f"run_marathon failed: {self.error!r}") from self.error
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached within {timeout_s:g} s; tasks "
                                     f"{[(r.task_id, r.state, r.healthy) for r in self.records()]}")
            self.stop.wait(poll_s)

    def close(self) -> None:
        """Stop the loop, Marathon, the master and the cluster (not the runner)."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.marathon.stop()
        self.master.stop()
        self.cluster.close()

    def __enter__(self) -> "MarathonRun":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
