"""The real demo's workload: two waves of jobs at both sites on an elastic pool that starts
empty, an agent lost under a running job, and the summary.

Once the submitter is healthy, :class:`Workload` submits each wave of :data:`WAVES` (jobs
pinned to their site with ``+HTCMESOS_WANT_SITE`` and ``requirements``, as the
submitter's ordinary user); the elastic loop grows the pool for them. It prints the jobs
per site and state whenever they change, loses the agent of an executor running a job
once (in the first wave: the job is requeued when its lease ends and runs again), and
after each wave waits (bounded) for the pool to drain back to its minimum. Then it takes
the queue waits and ends the demo; :meth:`Workload.report` prints the summary.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import docker.errors

from .autoscaler.lifecycle import Phase
from .demo_summary import Usage, executors_by_site, queue_waits, summary_lines
from .model import Role
from .sim.condorpool import CondorToolError, Job, SubmitHost, by_site
from .sim.docker.objects import AGENT_LABEL, TASK_LABEL
from .sim.emulated_run import EmulatedRun
from .spec import ClusterSpec


@dataclass(frozen=True)
class Wave:
    jobs_per_site: int
    job_seconds: float


#: Each wave's jobs fill whole 2-core executors: 2 then 1 per site.
WAVES = (Wave(4, 15), Wave(2, 10))
POLL_S = 2.0
#: How long the demo may wait for the submitter before it gives up on the workload.
READY_TIMEOUT_S = 300.0
#: How long a wave may take to complete, and the pool to shrink back after it (bounds).
WAVE_TIMEOUT_S = 150.0
SHRINK_TIMEOUT_S = 75.0


class Workload(threading.Thread):
    """Drives the demo's jobs (a daemon thread; :meth:`report` gives the exit code)."""

    def __init__(self, spec: ClusterSpec, client: Any, run: EmulatedRun,
                 echo: Callable[[str], None], stop: threading.Event, started: float):
        super().__init__(name="demo-workload", daemon=True)
        self.spec, self.client, self.run_, self.echo, self.stop = spec, client, run, echo, stop
        self.started = started            # the demo's start (monotonic s), for t+ stamps
        self.minimum = {s.name: s.executors_min for s in spec.sites}
        self.usage = Usage(float(spec.roles[Role.EXECUTOR].cpus))
        self.submitted: dict[str, int] = {}
        self.clusters: list[int] = []
        self.counts: dict[str, Any] = {}
        self.waits: dict[str, float] = {}
        self.shrank_at: float | None = None
        self.lost: str | None = None
        self.error: str | None = None
        self._shown: str | None = None

    def run(self) -> None:
        try:
            host = self._ready()
            if host is None:
                return
            self._waves(host)
            if not self.stop.is_set():     # stopped: the containers may be going already
                self.waits = queue_waits(host, self.clusters)
        except (CondorToolError, OSError, docker.errors.DockerException) as exc:
            self.error = str(exc)
            self.echo(f"*** demo: workload failed: {exc}")
        finally:
            self.stop.set()             # done, or given up: the demo ends either way

    def _waves(self, host: SubmitHost) -> None:
        """Each wave: submit, wait for its jobs, then (bounded) for the pool to shrink."""
        for number, wave in enumerate(WAVES, 1):
            # said first: the loop may decide on the first site's jobs before the last
            # site's are submitted
            self.echo(f"*** demo: wave {number}: submitting {wave.jobs_per_site} jobs of "
                      f"{wave.job_seconds:g} s per site as submituser ({self._t()})")
            for site in self.spec.sites:
                self.clusters.append(host.submit(site.name, wave.job_seconds,
                                                 wave.jobs_per_site))
                self.submitted[site.name] = self.submitted.get(site.name, 0) \
                    + wave.jobs_per_site
            if not self._until(host, self._done, WAVE_TIMEOUT_S, lose=number == 1):
                self.echo(f"*** demo: stopped before wave {number} was done" if
                          self.stop.is_set() else
                          f"*** demo: wave {number} not done within {WAVE_TIMEOUT_S:g} s")
                return
            self.echo(f"*** demo: wave {number}: every job completed ({self._t()}); "
                      f"waiting for the pool to shrink back")
            self.shrank_at = None
            if self._until(host, self._shrunk, SHRINK_TIMEOUT_S):
                self.shrank_at = time.monotonic() - self.started
                self.echo(f"*** demo: the pool shrank back to its minimum ({self._t()})")
            elif self.stop.is_set():
                return
            else:
                self.echo(f"*** demo: the pool has not shrunk within {SHRINK_TIMEOUT_S:g} s; "
                          f"going on")

    def _t(self) -> str:
        return f"t+{time.monotonic() - self.started:.1f}s"

    def _until(self, host: SubmitHost, done: Callable[[], bool], timeout_s: float,
               lose: bool = False) -> bool:
        """Look at the queue and the pool every :data:`POLL_S` until ``done()``; False on
        timeout or stop."""
        deadline = time.monotonic() + timeout_s
        while not self.stop.wait(POLL_S):
            jobs = host.jobs()
            self._sample(jobs)
            self.counts = by_site(jobs)
            table = self._table()
            if table != self._shown:
                self._shown = table
                self.echo(f"    jobs: {table}   ({self._t()})")
            if lose and self.lost is None:
                self._lose_under_a_job(jobs)
            if done():
                return True
            if time.monotonic() > deadline:
                return False
        return False

    def _sample(self, jobs: list[Job]) -> None:
        """The pool now, for the summary's figures: executors holding resources, and jobs
        running on a live executor container (its hostname: the container id's start)."""
        live = [c["Id"] for c in self._containers(TASK_LABEL)]
        running = Counter(job.site for job in jobs if job.status == "running" and "@" in job.host
                          and any(cid.startswith(job.host.split("@")[-1]) for cid in live))
        self.usage.sample(time.monotonic(), executors_by_site(self.run_.records()), running)

    def _containers(self, label: str | None = None) -> list[dict]:
        """Containers as the engine lists them (id, labels), with no inspection of each:
        docker-py's ``containers.list()`` inspects every one and fails with a 404 when an
        executor's container is removed meanwhile (a drained executor, a lost agent)."""
        return self.client.api.containers(filters={"label": label} if label else None)

    def _ready(self) -> SubmitHost | None:
        """Wait for the submitter (the pool has no executor yet); its tools."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.stop.wait(0.5):
            sub = next((r for r in self.run_.records()
                        if r.role is Role.SUBMITTER and r.confirmed), None)
            if sub is not None:
                found = self.client.containers.list(filters={"label": f"{TASK_LABEL}="
                                                             f"{sub.task_id}"})
                if found:
                    self._sample([])
                    return SubmitHost(found[0])
            if time.monotonic() > deadline:
                self.error = "the submitter was not ready in time"
                self.echo(f"*** demo: {self.error}")
                return None
        return None

    def _lose_under_a_job(self, jobs: list[Job]) -> None:
        """Lose the agent of an executor that runs a job (never the central manager's)."""
        central = {r.agent_id for r in self.run_.records()
                   if r.role is not Role.EXECUTOR and r.phase is not Phase.ENDED}
        for job in jobs:
            if job.status != "running" or "@" not in job.host:
                continue
            hostname = job.host.split("@", 1)[1]
            for container in self._containers():
                labels = container.get("Labels") or {}
                if container["Id"].startswith(hostname) and labels.get(AGENT_LABEL) not in central:
                    self.lost = labels.get(AGENT_LABEL)
                    self.echo(f"*** demo: agent {self.lost} is lost under running job {job.id} "
                              f"(site {job.site}); the job runs again when its lease ends")
                    self.run_.cluster.lose_agent(self.lost)
                    self.echo(f"*** demo: the operator marks agent {self.lost} gone (its "
                              f"host is dead): its tasks end TASK_GONE_BY_OPERATOR")
                    self.run_.cluster.mark_agent_gone(self.lost)
                    return

    def _table(self) -> str:
        parts = []
        for site in sorted(self.counts):
            states = self.counts[site]
            parts.append(f"{site}: " + " ".join(f"{k}={v}" for k, v in sorted(states.items())))
        return " | ".join(parts) or "none yet"

    def _completed(self) -> dict[str, int]:
        return {site: self.counts.get(site, {}).get("completed", 0) for site in self.submitted}

    def _done(self) -> bool:
        done = self._completed()
        return bool(self.submitted) and all(done[s] >= n for s, n in self.submitted.items())

    def _shrunk(self) -> bool:
        count = executors_by_site(self.run_.records())
        return all(count[site] <= n for site, n in self.minimum.items())

    def report(self, cut_short: bool = False) -> int:
        """Print the summary; 0 if every job completed and the pool shrank back, else 1.
        ``cut_short``: the demo's --duration ended it, which is not a failure by itself
        (an error of the workload still is)."""
        self.echo("")
        self.echo("summary:")
        if cut_short and self.error is None and not (self._done() and self.shrank_at is not None):
            if self.submitted:
                for line in summary_lines(self.submitted, self._completed(), self.waits,
                                          self.usage, self.shrank_at, self.minimum):
                    self.echo("  " + line)
            self.echo("  the demo's --duration ended it before every wave was done")
            return 0
        if not self.submitted:
            self.echo(f"  jobs: none submitted ({self.error or 'stopped before the pool was ready'})")
            return 1
        for line in summary_lines(self.submitted, self._completed(), self.waits, self.usage,
                                  self.shrank_at, self.minimum):
            self.echo("  " + line)
        if self._done() and self.shrank_at is not None:
            return 0
        self.echo("  not every job completed, or the pool did not shrink back, before the "
                  "demo stopped")
        return 1
