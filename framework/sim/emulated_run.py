"""The production framework against an emulated Mesos cluster shaped like a spec.

:class:`EmulatedRun` builds the cluster (one site layout per spec site; agents run their
tasks on ``runner``: simulated, or real containers with the Docker runner), starts the
strict master over HTTP on loopback and runs :func:`framework.controller.run_framework`
in a background thread — what ``htcmesos demo``, the end-to-end tests and the benchmarks
share. :meth:`EmulatedRun.wait` waits on a condition checked after every control tick.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..backends.mesos.framework import MesosFramework, Options, PoolStatus
from ..controller import run_framework
from ..monitor import PoolMonitor
from ..backends.mesos.needs import TaskRecord
from ..spec import ClusterSpec
from .from_spec import site_layouts, with_mesos_backend
from .mesos.cluster import SimCluster
from .mesos.master import EmulatedMaster
from .runner import TaskRunner

T = TypeVar("T")


class EmulatedRun:
    """One framework run on an emulated cluster (start, wait, close)."""

    def __init__(self, spec: ClusterSpec, workdir: Path, runner: TaskRunner | None = None,
                 agents_per_site: int | None = None, options: Options | None = None,
                 tick_s: float = 0.5, allocation_interval_s: float = 0.2,
                 on_status: Callable[[PoolStatus], None] | None = None,
                 stop: threading.Event | None = None, elastic: bool = False,
                 on_decision: Callable[[Any], None] | None = None,
                 monitor: PoolMonitor | None = None) -> None:
        self.cluster = SimCluster.build(site_layouts(spec, agents_per_site, runner=runner),
                                        seed=spec.backend.sim.seed,
                                        allocation_interval_s=allocation_interval_s)
        self.master = EmulatedMaster(self.cluster, heartbeat_s=2.0).start()
        self.spec = with_mesos_backend(spec, self.master.url, workdir / "state.json")
        self.options = options or Options(reconcile_settle_s=0.5, refuse_s=1.0)
        self.tick_s, self.on_status = tick_s, on_status
        self.elastic, self.on_decision, self.monitor = elastic, on_decision, monitor
        self.stop = stop or threading.Event()
        self.fw: MesosFramework | None = None
        #: the elastic loop's thread once the framework started it (``elastic``)
        self.elastic_thread: Any = None
        self.status: PoolStatus | None = None
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self, desired: dict[str, int] | None = None,
              on_start: Callable[[MesosFramework], None] | None = None) -> "EmulatedRun":
        """Run the framework; ``desired``: executors per site (default: the sites' min)."""
        def started(fw: MesosFramework) -> None:
            for site, count in (desired or {}).items():
                fw.set_desired_executors(site, count)
            with self._cond:
                self.fw = fw
                self._cond.notify_all()
            if on_start is not None:
                on_start(fw)

        def main() -> None:
            try:
                self.status = run_framework(
                    self.spec, self.stop, tick_s=self.tick_s, on_status=self._ticked,
                    on_start=started, options=self.options, elastic=self.elastic,
                    on_decision=self.on_decision, monitor=self.monitor,
                    on_elastic=self._elastic_started)
            except BaseException as exc:  # noqa: BLE001 - surfaced by wait() and close()
                self.error = exc
            finally:
                with self._cond:
                    self._cond.notify_all()

        self._thread = threading.Thread(target=main, name="emulated-run", daemon=True)
        self._thread.start()
        return self

    def _elastic_started(self, thread: Any) -> None:
        with self._cond:
            self.elastic_thread = thread
            self._cond.notify_all()

    def _ticked(self, status: PoolStatus) -> None:
        with self._cond:
            self.status = status
            self._cond.notify_all()
        if self.on_status is not None:
            self.on_status(status)

    def records(self) -> list[TaskRecord]:
        """A snapshot of the framework's task records (empty before it started)."""
        fw = self.fw
        return list(dict(fw.records).values()) if fw is not None else []

    def wait(self, predicate: Callable[[], T], timeout_s: float, what: str = "condition") -> T:
        """The first truthy ``predicate()`` (checked on each tick); AssertionError naming
        ``what`` and the records on timeout, or the framework's error if it died."""
        with self._cond:
            found = self._cond.wait_for(lambda: self.error is not None or self.stop.is_set()
                                        or predicate(), timeout_s)
        if self.error is not None:
            raise AssertionError(f"run_framework failed: {self.error!r}") from self.error
        value = predicate() if found else None
        if not value:
            rows = [(r.task_id, r.phase.value, r.state, r.ip, r.healthy, r.message[:120])
                    for r in self.records()]
            raise AssertionError(f"{what}: not reached within {timeout_s:g} s; "
                                 f"status {self.status}; records {rows}")
        return value

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the framework thread to end (after :attr:`stop` is set)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def close(self) -> None:
        """Stop the framework, the master and the cluster (not the runner: its owner's)."""
        self.stop.set()
        self.join(30)
        self.master.stop()
        self.cluster.close()

    def __enter__(self) -> "EmulatedRun":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
