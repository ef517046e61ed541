"""Keep a submitter or executor healthy while the central manager is away or restarting.

Mesos kills a task whose health check fails ``consecutive_failures`` times. The submitter
and executor checks ask the central manager's collector for their own ad, so without
this a master that dies (or is replaced at its fixed address) would take every schedd and
startd with it. :class:`OutageTolerance` turns two failures into passes:

- the collector cannot be reached, after this task's ad was seen there once, and its own
  daemon (``condor_schedd`` / ``condor_startd``) still runs in the container: the daemon
  keeps working and re-advertises by itself when a collector answers again;
- the collector answers without our ad (seen there before) but started less than
  ``grace_s`` ago (three update intervals): the daemon's next update has not come yet.

A task that never reached the collector, whose daemon died, or whose ad stays missing
from a collector that has been up for a while still fails: that is a broken task. An
outage is tolerated as long as it lasts: killing executors would kill their running jobs,
which go on without a central manager. A startd that can never advertise again (say its
token no longer works) stays out of the pool, where the pool monitor sees it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

from .checks import CheckResult

#: The daemon each role's container must keep running.
ROLE_DAEMONS = {"submitter": "condor_schedd", "executor": "condor_startd"}
#: Seconds of grace per update interval after a collector restart (three updates).
UPDATES_OF_GRACE = 3


def daemon_running(name: str, proc: Path = Path("/proc")) -> bool:
    """True if a process whose command name is ``name`` runs (in this PID namespace)."""
    try:
        entries = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return False
    for entry in entries:
        try:
            if (entry / "comm").read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def update_interval_from_env(env: dict, default_s: float = 300.0) -> float:
    """``HTCMESOS_UPDATE_INTERVAL`` (seconds; set by the framework), else HTCondor's 300."""
    try:
        return max(1.0, float(env.get("HTCMESOS_UPDATE_INTERVAL") or default_s))
    except ValueError:
        return default_s


class OutageTolerance:
    """Wraps one role's check results with the rules of the module docstring."""

    def __init__(self, role: str, update_interval_s: float,
                 alive: Optional[Callable[[str], bool]] = None) -> None:
        self.role = role
        self.grace_s = UPDATES_OF_GRACE * update_interval_s
        self._alive = alive or daemon_running
        self._lock = threading.Lock()
        self.seen = False
        """This task's ad was in the collector at least once."""

    def judge(self, result: CheckResult) -> CheckResult:
        """The result to serve for ``result`` (the raw check)."""
        daemon = ROLE_DAEMONS.get(self.role)
        if daemon is None:
            return result
        with self._lock:
            if result.ok:
                self.seen = True
                return result
            seen = self.seen
        if result.unreachable and seen and self._alive(daemon):
            return CheckResult(True, self.role, "central manager unreachable (%s); %s runs "
                               "and will advertise again" % (result.detail, daemon))
        age = result.collector_age_s
        if seen and age is not None and 0 <= age < self.grace_s and self._alive(daemon):
            return CheckResult(True, self.role, "the collector started %.0f s ago; %s "
                               "advertises within %.0f s" % (age, daemon, self.grace_s))
        return result

