"""The real demo's workload: jobs at both sites, an agent lost under a running job.

Once the submitter and an executor per site are healthy, :class:`Workload` submits
:data:`JOBS_PER_SITE` jobs pinned to each site as the submitter's ordinary user, prints the
jobs per site and state whenever they change, loses the agent of an executor running a
job once (its job is requeued when its lease ends and runs on the replacement) and ends
the demo when every job completed.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import docker.errors

from .autoscaler.lifecycle import Phase
from .model import Role
from .sim.condorpool import CondorToolError, SubmitHost, by_site
from .sim.docker.objects import AGENT_LABEL, TASK_LABEL
from .sim.emulated_run import EmulatedRun
from .spec import ClusterSpec

JOBS_PER_SITE = 3
JOB_SECONDS = 15
POLL_S = 2.0
#: How long the demo may wait for the pool before it gives up on the workload.
READY_TIMEOUT_S = 300.0


class Workload(threading.Thread):
    """Drives the demo's jobs (a daemon thread; :meth:`report` gives the exit code)."""

    def __init__(self, spec: ClusterSpec, client: Any, run: EmulatedRun,
                 echo: Callable[[str], None], stop: threading.Event, started: float):
        super().__init__(name="demo-workload", daemon=True)
        self.spec, self.client, self.run_, self.echo, self.stop = spec, client, run, echo, stop
        self.started = started            # the demo's start (monotonic s), for t+ stamps
        self.submitted: dict[str, int] = {}
        self.counts: dict[str, Any] = {}
        self.lost: str | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            host = self._ready()
            if host is None:
                return
            for site in self.spec.sites:
                host.submit(site.name, JOB_SECONDS, JOBS_PER_SITE)
                self.submitted[site.name] = JOBS_PER_SITE
            self.echo(f"*** demo: submitted {JOBS_PER_SITE} jobs per site as submituser")
            shown = None
            while not self.stop.wait(POLL_S):
                jobs = host.jobs()
                self.counts = by_site(jobs)
                table = self._table()
                if table != shown:
                    shown = table
                    self.echo(f"    jobs: {table}   (t+{time.monotonic() - self.started:.1f}s)")
                if self.lost is None:
                    self._lose_under_a_job(jobs)
                if self._done():
                    self.echo("*** demo: every job completed")
                    return
        except (CondorToolError, OSError, docker.errors.DockerException) as exc:
            self.error = str(exc)
            self.echo(f"*** demo: workload failed: {exc}")
        finally:
            self.stop.set()             # done, or given up: the demo ends either way

    def _ready(self) -> SubmitHost | None:
        """Wait for the submitter and one executor per site; the submitter's tools."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.stop.wait(0.5):
            records = self.run_.records()
            ready = {(r.role, r.site) for r in records if r.confirmed}
            sub = next((r for r in records if r.role is Role.SUBMITTER and r.confirmed), None)
            if sub and all((Role.EXECUTOR, s.name) in ready for s in self.spec.sites):
                found = self.client.containers.list(filters={"label": f"{TASK_LABEL}="
                                                             f"{sub.task_id}"})
                if found:
                    return SubmitHost(found[0])
            if time.monotonic() > deadline:
                self.error = "the pool was not ready in time"
                self.echo(f"*** demo: {self.error}")
                return None
        return None

    def _lose_under_a_job(self, jobs: list) -> None:
        """Lose the agent of an executor that runs a job (never the central manager's)."""
        central = {r.agent_id for r in self.run_.records()
                   if r.role is not Role.EXECUTOR and r.phase is not Phase.ENDED}
        for job in jobs:
            if job.status != "running" or "@" not in job.host:
                continue
            hostname = job.host.split("@", 1)[1]
            for container in self.client.containers.list():
                labels = container.labels or {}
                if container.id.startswith(hostname) and labels.get(AGENT_LABEL) not in central:
                    self.lost = labels.get(AGENT_LABEL)
                    self.echo(f"*** demo: agent {self.lost} is lost under running job {job.id} "
                              f"(site {job.site}); the job runs again on the replacement")
                    self.run_.cluster.lose_agent(self.lost)
                    return

    def _table(self) -> str:
        parts = []
        for site in sorted(self.counts):
            states = self.counts[site]
            parts.append(f"{site}: " + " ".join(f"{k}={v}" for k, v in sorted(states.items())))
        return " | ".join(parts) or "none yet"

    def _done(self) -> bool:
        return bool(self.submitted) and all(
            self.counts.get(site, {}).get("completed", 0) >= n
            for site, n in self.submitted.items())

    def report(self) -> int:
        """Print jobs completed per site; 0 if every job completed, else 1."""
        if not self.submitted:
            self.echo(f"jobs: none submitted ({self.error or 'stopped before the pool was ready'})")
            return 1
        for site, n in sorted(self.submitted.items()):
            done = self.counts.get(site, {}).get("completed", 0)
            self.echo(f"  jobs completed at site {site}: {done} of {n}")
        if self._done():
            return 0
        self.echo("  not every job completed before the demo stopped")
        return 1
