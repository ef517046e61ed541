"""Jobs on a real pool of role containers: submit as an ordinary user, watch the queue.

:class:`SubmitHost` runs HTCondor's own tools (``condor_submit``, ``condor_q``,
``condor_history``) inside the submitter's container with ``docker exec``, the way a user
logged in there would; jobs are submitted as ``submituser`` (the local HTCondor base and
the official submit image both have one). A job is pinned to a site by requiring the
startd attribute ``HTCMESOS_SITE``; its wanted site is kept in the job attribute
``HTCMESOS_WANT_SITE``.
"""
from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..condor.config import ATTR_SITE

USER = "submituser"
WANT_SITE = "HTCMESOS_WANT_SITE"
#: HTCondor JobStatus codes → names.
JOB_STATUS = {1: "idle", 2: "running", 3: "removed", 4: "completed", 5: "held",
              6: "transferring", 7: "suspended"}


class CondorToolError(Exception):
    """An HTCondor tool in the container failed; ``str()`` has its output."""


@dataclass(frozen=True)
class Job:
    cluster: int
    proc: int
    status: str          # idle | running | completed | held | …
    site: str            # the wanted site ("" if not pinned)
    host: str            # where it runs / ran last ("" if never)

    @property
    def id(self) -> str:
        return f"{self.cluster}.{self.proc}"


def submit_description(site: str | None, seconds: float, count: int,
                       command: str | None = None, requirements: str | None = None,
                       cpus: int = 1) -> str:
    """A submit file for ``count`` jobs of ``seconds`` each asking ``cpus`` cores, pinned
    to ``site`` if given (``requirements``: a ClassAd expression instead)."""
    body = command or f"sleep {seconds:g}; hostname"
    lines = ["universe = vanilla", "executable = /bin/sh",
             f"arguments = \"-c '{body}'\"", "output = out.$(Cluster).$(Process)",
             "error = err.$(Cluster).$(Process)", "log = jobs.log",
             f"request_cpus = {int(cpus)}", "request_memory = 64", "request_disk = 1024",
             "should_transfer_files = YES", "when_to_transfer_output = ON_EXIT"]
    if site:
        lines += [f'+{WANT_SITE} = "{site}"']
    if requirements:
        lines += [f"requirements = {requirements}"]
    elif site:
        lines += [f"requirements = (TARGET.{ATTR_SITE} =?= MY.{WANT_SITE})"]
    return "\n".join(lines + [f"queue {count}", ""])


class SubmitHost:
    """HTCondor tools in one submitter container (``docker.models.containers.Container``)."""

    def __init__(self, container: Any) -> None:
        self.container = container

    def run(self, command: str, user: str | None = None, check: bool = True) -> str:
        """Run a shell command (as ``user``: a login shell in its home); its output."""
        argv = ["su", "-", user, "-c", command] if user else ["sh", "-c", command]
        code, out = self.container.exec_run(argv, demux=False)
        text = (out or b"").decode("utf-8", "replace")
        if check and code != 0:
            raise CondorToolError(f"{command!r} exited {code}: {text.strip()[-800:]}")
        return text

    def submit(self, site: str | None, seconds: float, count: int,
               command: str | None = None, requirements: str | None = None,
               cpus: int = 1) -> int:
        """Submit ``count`` jobs as :data:`USER`; the cluster id."""
        text = submit_description(site, seconds, count, command, requirements, cpus)
        name = f"job-{site or 'any'}.sub"
        self.run(f"printf %s {shlex.quote(text)} > {name}", user=USER)
        try:
            out = self.run(f"condor_submit -terse {name}", user=USER)
        except CondorToolError as exc:
            # FS authentication to the local schedd failed once in ~700 CI submits
            # (AUTHENTICATE:1003, nothing queued): the tool is run again once, as a user
            # would; a second failure is a real one
            if "AUTHENTICATE" not in str(exc):
                raise
            out = self.run(f"condor_submit -terse {name}", user=USER)
        found = re.search(r"^(\d+)\.\d+ - \d+\.\d+$", out, re.M)   # "12.0 - 12.3"
        if found is None:
            raise CondorToolError(f"condor_submit printed no job ids: {out.strip()[-400:]}")
        return int(found.group(1))

    def jobs(self) -> list[Job]:
        """Every job in the queue and in the history of this schedd."""
        fmt = f"-af ClusterId ProcId JobStatus {WANT_SITE} RemoteHost LastRemoteHost"
        out = self.run(f"condor_q -allusers {fmt}; condor_history {fmt}")
        seen: dict[str, Job] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 6 or not parts[0].isdigit():
                continue
            cluster, proc, status = int(parts[0]), int(parts[1]), int(parts[2])
            site = "" if parts[3] == "undefined" else parts[3]
            host = next((h for h in parts[4:] if h != "undefined"), "")
            job = Job(cluster, proc, JOB_STATUS.get(status, str(status)), site, host)
            seen.setdefault(job.id, job)        # the queue (listed first) wins
        return sorted(seen.values(), key=lambda j: (j.cluster, j.proc))

    def output(self, job: Job) -> str:
        """The job's standard output file (empty if not there yet)."""
        return self.run(f"cat out.{job.cluster}.{job.proc} 2>/dev/null || true", user=USER)


def by_site(jobs: list[Job]) -> dict[str, Counter]:
    """Wanted site → Counter of job states."""
    out: dict[str, Counter] = {}
    for job in jobs:
        out.setdefault(job.site or "any", Counter())[job.status] += 1
    return out
