"""``htcmesos demo --backend marathon``: the embedded pool as a Marathon group.

The strict Marathon emulator runs on the emulated Mesos cluster; ``htcmesos marathon
apply`` (the production code) creates the group — master first, then the submitter and
the executor apps — and Marathon starts, health-checks and restarts the tasks. With a
Docker engine they are the real role containers and the production elastic loop sizes
each site's executor app from the real queue: the same two waves of jobs as the framework
demo, drained executors removed by name (``tasks/delete?scale=true``). Without an engine
(or with ``--simulated``) the agents simulate their tasks: each executor app is scaled to
3, an agent is lost, and Marathon replaces what ran there.

The run ends when the jobs are done or at ``--duration``; it fails (exit 1) when the group
cannot be applied, does not become healthy, or a job fails — not because the duration ran
out first.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import HtcmesosError
from .model import ROLE_ORDER, Role
from .spec import ClusterSpec

Echo = Callable[[str], None]
#: How long the group may take to become healthy.
HEALTHY_TIMEOUT_S = 240.0


class MarathonDemo:
    """One run (see the module docstring)."""

    def __init__(self, spec: ClusterSpec, tmp: Path, echo: Echo, stop: threading.Event,
                 decisions: Callable[[Any], None]) -> None:
        self.spec, self.tmp, self.echo, self.stop = spec, tmp, echo, stop
        self.decisions = decisions
        self.started = time.monotonic()
        self._shown: list[str] = []
        self._quiet = threading.Event()        # the final table is printed: no more views
        self.timed_out = False

    def _t(self) -> str:
        return f"t+{time.monotonic() - self.started:5.1f}s"

    def run(self, docker: Any, duration: float | None) -> int:
        from .sim.marathon_run import MarathonRun

        runner = None
        if docker is not None:
            from .demo import docker_runner
            runner = docker_runner(docker, self.spec, self.echo)
            if runner is None:
                return 1
        timer = None
        if duration is not None:
            def over() -> None:
                self.timed_out = True
                self.stop.set()
            timer = threading.Timer(duration, over)
            timer.daemon = True
            timer.start()
        try:
            with MarathonRun(self.spec, self.tmp, runner, allocation_interval_s=0.5,
                             stop=self.stop, on_decision=self.decisions) as run:
                return self._serve(run, docker)
        finally:
            if timer is not None:
                timer.cancel()
            if runner is not None:
                from .demo import close_runner
                close_runner(runner, self.echo)

    def _serve(self, run: Any, docker: Any) -> int:
        from .backends.marathon.render import render_group
        group = render_group(run.spec)["id"]
        self.echo(f"htcmesos demo: pool {self.spec.pool.name} as Marathon group {group} on "
                  f"an emulated Marathon at {run.marathon.url} (Mesos master "
                  f"{run.master.url}); central manager at {self.spec.master_address}")
        self.echo(f"*** demo: htcmesos marathon apply ({self._t()})")
        try:
            run.apply(echo=lambda line: self.echo("    " + line), wait=False)
        except HtcmesosError as exc:
            self.echo(f"htcmesos demo: apply failed: {exc}")
            return 1
        watcher = threading.Thread(target=self._watch, args=(run,), daemon=True,
                                   name="demo-marathon-view")
        watcher.start()
        if not self._healthy(run, [Role.MASTER, Role.SUBMITTER]):
            return 1                # a pool that never came up is a failure, however short
        self.echo(f"*** demo: master and submitter running and healthy ({self._t()})")
        if docker is None:
            return self._simulated(run)
        from .demo_jobs import Workload
        run.start()
        work = Workload(self.spec, docker, run, self.echo, self.stop, self.started)
        work.start()
        while not self.stop.wait(0.5) and run.error is None:
            pass
        work.join()
        self._final(run)
        if run.error is not None:
            self.echo(f"htcmesos demo: the elastic loop failed: {run.error!r}")
            return 1
        return work.report(cut_short=self.timed_out)

    def _healthy(self, run: Any, roles: list[Role]) -> bool:
        def healthy() -> bool:
            records = run.records()
            return all(any(r.role is role and r.confirmed for r in records) for role in roles)
        if self._until(healthy, HEALTHY_TIMEOUT_S):
            return True
        self.echo("*** demo: stopped before the group was healthy" if self.stop.is_set() else
                  f"htcmesos demo: {', '.join(r.value for r in roles)} not healthy within "
                  f"{HEALTHY_TIMEOUT_S:g} s")
        return False

    def _simulated(self, run: Any) -> int:
        from .backends.marathon.render import app_id
        from .demo import DEMO_EXECUTORS
        want = {s.name: max(s.executors_min, min(DEMO_EXECUTORS, s.executors_max))
                for s in self.spec.sites}
        for site, n in want.items():
            run.client.scale_app(app_id(run.spec, Role.EXECUTOR, site), n)

        def full() -> bool:
            running = [r for r in run.records() if r.role is Role.EXECUTOR and r.confirmed]
            return all(sum(r.site == s for r in running) >= n for s, n in want.items())
        if not self._until(full, 60):
            self.echo("htcmesos demo: the executor apps did not reach their instances")
            return 1
        victim = next(r for r in run.records() if r.role is Role.EXECUTOR and r.confirmed
                      and r.agent_id not in {c.agent_id for c in run.records()
                                             if c.role is not Role.EXECUTOR})
        self.echo(f"*** demo: agent {victim.agent_id} at site {victim.site} is lost "
                  f"(executor {victim.task_id} goes with it); the operator marks it gone")
        run.cluster.lose_agent(victim.agent_id)
        run.cluster.mark_agent_gone(victim.agent_id)

        def replaced() -> bool:
            return full() and all(r.task_id != victim.task_id for r in run.records())
        ok = self._until(replaced, 60)
        if ok:
            self.echo(f"*** demo: Marathon replaced the lost executor ({self._t()})")
        self._final(run)
        if not ok:
            self.echo("htcmesos demo: Marathon did not replace the lost executor")
        return 0 if ok else 1

    def _until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.stop.wait(0.5):
            if done():
                return True
            if time.monotonic() > deadline:
                return False
        return False

    def _watch(self, run: Any) -> None:
        """Print the group's table whenever it changes."""
        while not self.stop.wait(0.5) and not self._quiet.is_set():
            try:
                table = _table(run.records())
            except HtcmesosError:
                continue
            if table != self._shown:
                self._shown = table
                self.echo(f"--- {self._t()} Marathon tasks")
                for line in table:
                    self.echo("  " + line)

    def _final(self, run: Any) -> None:
        self._quiet.set()
        self.echo("")
        self.echo("final Marathon group:")
        try:
            for line in _table(run.records()):
                self.echo("  " + line)
        except HtcmesosError as exc:
            self.echo(f"  (Marathon did not answer: {exc})")


def _table(records: list[Any]) -> list[str]:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for r in records:
        state = "healthy" if r.confirmed else r.state.removeprefix("TASK_").lower()
        row = rows.setdefault((r.role.value, r.site), {})
        row[state] = row.get(state, 0) + 1
    order = {r.value: i for i, r in enumerate(ROLE_ORDER + (Role.BROKER,))}
    return [f"{role:<9} {site:<8} " + " ".join(f"{k}={v}" for k, v in sorted(states.items()))
            for (role, site), states in sorted(rows.items(),
                                               key=lambda kv: (order[kv[0][0]], kv[0][1]))] \
        or ["no tasks yet"]
