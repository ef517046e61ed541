"""``htcmesos demo``: the embedded default — the two-site example pool on an emulated
Mesos cluster (a strict master over real HTTP on loopback), run by the real framework.

With a Docker engine (the set-up script starts one) the agents run the real role images:
real HTCondor daemons, a private site behind iptables reached through CCB. The pool starts
at the sites' minimum (no executor) and the elastic loop sizes it: two waves of jobs,
submitted as an ordinary user, grow it at both sites, and it drains back to the minimum
after each; an agent is lost under a running job, which runs again (:mod:`.demo_jobs`).
Every decision that acts, or whose reasons change, is printed with its reason codes; the
run ends with a summary (:mod:`.demo_summary`). With ``--simulated`` (or without an
engine) the agents only simulate their tasks and the pool keeps 3 executors a site.
Containers, networks and firewall rules are removed on exit, Ctrl-C and SIGTERM included.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .backends.mesos.framework import PoolStatus
from .elastic_run import announce_dashboard
from .errors import HtcmesosError, SpecError
from .model import IMAGE_ROLES, ROLE_ORDER, Role
from .planner import Decision
from .spec import ApiSpec, ClusterSpec, parse_spec
from .sim.emulated_run import EmulatedRun
from .sim.from_spec import site_layouts

#: Executors the simulated demo asks for per site (within the spec's limits); the real
#: demo starts at the sites' minimum and lets the elastic loop decide.
DEMO_EXECUTORS = 3
#: Without --duration, an agent is lost this many seconds in (simulated demo).
LOSS_AFTER_S = 20.0

Echo = Callable[[str], None]


def run_demo(spec_text: str, duration: float | None, echo: Echo,
             simulated: bool = False, backend: str = "mesos", listen: str | None = None,
             token_file: Path | None = None) -> int:
    """Run the demo (``backend``: ``mesos``, the framework, or ``marathon``: the pool as a
    Marathon group, :mod:`.demo_marathon`); return the process exit code. The dashboard
    and REST API listen on ``listen`` (default: the spec's api.listen); requests that
    change the pool need the token in ``token_file`` (default: one made for this run)."""
    try:
        spec = parse_spec(spec_text, "embedded demo spec", Path.cwd())
    except SpecError as exc:  # the embedded spec is ours: a failure is a bug
        echo(exc.report())
        return 1
    client = None if simulated else _docker_client(echo)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        with tempfile.TemporaryDirectory(prefix="htcmesos-demo-") as tmp:
            key = Path(tmp) / "pool-signing-key"
            key.write_bytes(b"demo-only key, generated per run\n")
            key.chmod(0o600)
            spec = dataclasses.replace(spec, pool=dataclasses.replace(spec.pool,
                                                                      signing_key_file=key),
                                       api=_demo_api(spec, Path(tmp), listen, token_file))
            if backend == "marathon":
                from .demo_marathon import MarathonDemo
                started = time.monotonic()
                return MarathonDemo(spec, Path(tmp), echo, stop,
                                    _DecisionView(echo, started).show).run(client, duration)
            if client is None:
                return _Run(spec, Path(tmp), echo, stop).simulated(duration)
            return _Run(spec, Path(tmp), echo, stop).real(client, duration)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _demo_api(spec: ClusterSpec, tmp: Path, listen: str | None,
              token_file: Path | None) -> ApiSpec:
    """The demo's API: on ``listen`` (or the spec's), with ``token_file`` or a token made
    for this run (``demo <token>``: the operator is logged as ``demo``)."""
    if token_file is None:
        token_file = tmp / "api-token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"demo {secrets.token_urlsafe(24)}\n")
    return ApiSpec(listen if listen is not None else spec.api.listen, token_file)


def _docker_client(echo: Echo) -> Any:
    """A client for the local engine, or None (then the demo runs simulated)."""
    try:
        import docker
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure: no engine
        echo(f"htcmesos demo: no Docker engine answers ({str(exc).splitlines()[0][:120]}); "
             f"running the simulated pool instead (scripts/bootstrap.sh demo starts one)")
        return None


def docker_runner(client: Any, spec: ClusterSpec, echo: Echo) -> Any:
    """The role images built (or found up to date) and a Docker runner for the agents;
    None (said why) when the images cannot be built."""
    from .condor.images import build_role_images
    from .sim.docker.runner import DockerTaskRunner

    try:
        images = build_role_images(client, "auto", {r: spec.roles[r].image for r in IMAGE_ROLES},
                                   log=echo)
    except HtcmesosError as exc:
        echo(f"htcmesos demo: cannot build the role images: {exc}")
        return None
    echo(f"role images ready ({images.describe()})")
    return DockerTaskRunner(client, poll_s=0.25)


def close_runner(runner: Any, echo: Echo) -> None:
    """Remove the run's containers, networks and firewall rules, saying so."""
    echo(f"cleaning up containers, networks and firewall rules (emulator runner "
         f"{runner.runner_id})")
    runner.close()
    if runner.kept_networks:
        echo(f"networks kept (still in use by other containers): "
             f"{', '.join(runner.kept_networks)}")


class _Run:
    """One demo run: the emulated cluster, the framework and the live view."""

    def __init__(self, spec: ClusterSpec, tmp: Path, echo: Echo, stop: threading.Event):
        self.spec, self.tmp, self.echo, self.stop = spec, tmp, echo, stop
        self.view = _LiveView(echo, time.monotonic())

    def simulated(self, duration: float | None) -> int:
        run = self._run(None, DEMO_EXECUTORS)
        loss = threading.Timer(duration / 2 if duration else LOSS_AFTER_S,
                               lambda: self._lose_an_agent(run))
        self._final(self._serve(run, duration, [loss]))
        return self._failed(run)

    def real(self, client: Any, duration: float | None) -> int:
        from .demo_jobs import Workload

        runner = docker_runner(client, self.spec, self.echo)
        if runner is None:
            return 1
        try:
            run = self._run(runner, None, elastic=True)
            work = Workload(self.spec, client, run, self.echo, self.stop, self.view.started)
            status = self._serve(run, duration, [], work.start)
            if work.ident is not None:            # started (the framework came up)
                work.join()
            self._final(status)
            return self._failed(run) or work.report()
        finally:
            close_runner(runner, self.echo)

    def _run(self, runner: Any, executors: int | None, elastic: bool = False) -> EmulatedRun:
        """The run; ``executors`` per site kept by the framework, or (None) the sites'
        minimum, with the elastic loop (``elastic``) deciding from there."""
        decisions = _DecisionView(self.echo, self.view.started)
        run = EmulatedRun(self.spec, self.tmp, runner, on_status=self.view.show,
                          allocation_interval_s=0.5, stop=self.stop, elastic=elastic,
                          on_decision=decisions.show if elastic else None)
        self.desired = {} if executors is None else {
            s.name: max(s.executors_min, min(executors, s.executors_max))
            for s in self.spec.sites}
        return run

    def _serve(self, run: EmulatedRun, duration: float | None, timers: list[threading.Timer],
               on_ready: Callable[[], None] | None = None) -> PoolStatus | None:
        spec = run.spec
        self.echo(f"htcmesos demo: pool {spec.pool.name} on an emulated Mesos cluster at "
                  f"{run.master.url}; central manager at {spec.master_address}")
        for layout in site_layouts(spec):
            site = spec.site(layout.name)
            self.echo(f"  site {site.name:<8} {'private (CCB)' if site.private else 'public':<14}"
                      f" {layout.agents} agents ({site.agents.describe()}), network "
                      f"{site.calico_network} {site.cidr}")
        if duration is not None:
            timers.append(threading.Timer(duration, self.stop.set))
        for timer in timers:
            timer.daemon = True
            timer.start()
        try:
            run.start(self.desired, on_start=lambda fw: on_ready() if on_ready else None)
            if run.elastic:
                threading.Thread(target=self._announce, args=(run,), daemon=True,
                                 name="demo-dashboard").start()
            while not self.stop.wait(0.5) and run.error is None:
                pass
            run.join()
            # a fresh look at the records: the last tick's status may predate a task's end
            return run.fw.status() if run.fw is not None else run.status or self.view.last
        except KeyboardInterrupt:
            self.stop.set()
            self.echo("interrupted")
            return self.view.last
        finally:
            for timer in timers:
                timer.cancel()
            run.close()

    def _announce(self, run: EmulatedRun) -> None:
        try:
            thread = run.wait(lambda: run.elastic_thread, 120, "the elastic loop")
        except AssertionError:           # the framework never started it: said elsewhere
            return
        announce_dashboard(thread, self.echo, wait=True)

    def _lose_an_agent(self, run: EmulatedRun) -> None:
        """Half-way: an agent running an executor vanishes; the framework replaces it."""
        records = run.records()
        central = {r.agent_id for r in records if r.role.value != "executor"}
        victim = next((r for r in records if r.role.value == "executor" and r.phase.active
                       and r.agent_id and r.agent_id not in central), None)
        if victim is not None:
            self.echo(f"*** demo: agent {victim.agent_id} at site {victim.site} is lost "
                      f"(executor {victim.task_id} goes with it)")
            run.cluster.lose_agent(victim.agent_id)
            self.echo(f"*** demo: the operator marks agent {victim.agent_id} gone (its host "
                      f"is dead): its tasks end TASK_GONE_BY_OPERATOR")
            run.cluster.mark_agent_gone(victim.agent_id)

    def _failed(self, run: EmulatedRun) -> int:
        """1 (said why) if the framework itself died, else 0."""
        if run.error is None:
            return 0
        self.echo(f"htcmesos demo: the framework failed: {run.error!r}")
        return 1

    def _final(self, status: PoolStatus | None) -> None:
        self.echo("")
        self.echo("final pool state:")
        for line in _table(status):
            self.echo("  " + line)
        if status is not None:
            self.echo(f"  {status.launches} task launches, {status.failures} failures, master "
                      f"at {status.master_address or 'none'}")


class _LiveView:
    """Prints the pool's table whenever it changes (at most every half second)."""

    def __init__(self, echo: Echo, started: float):
        self.echo, self.started = echo, started
        self.last: PoolStatus | None = None
        self._shown: list[str] = []

    def show(self, status: PoolStatus) -> None:
        self.last = status
        table = _table(status)
        if table != self._shown:
            self._shown = table
            self.echo(f"--- t+{time.monotonic() - self.started:5.1f}s "
                      f"{'connected' if status.connected else 'disconnected'}"
                      f"{', reconciling' if status.reconciling else ''}")
            for line in table:
                self.echo("  " + line)


class _DecisionView:
    """Prints the elastic loop's decisions that act, or whose reasons change (by code and
    site: the details' counts and ages change every tick), each reason on its own line."""

    def __init__(self, echo: Echo, started: float):
        self.echo, self.started = echo, started
        self._reasons: frozenset[tuple[str, str]] = frozenset()

    def show(self, decision: Decision) -> None:
        reasons = frozenset((r.code.value, r.site) for r in decision.reasons)
        if not decision.changes and reasons == self._reasons:
            return
        self._reasons = reasons
        acts = [f"launch {site}+{n}" for site, n in decision.launches.items() if n]
        acts += [f"drain {startd.name}" for startd in decision.drain]
        acts += [f"cancel drain {drain.startd}" for drain in decision.cancel]
        acts += [f"remove {task_id}" for task_id in decision.kill]
        desired = " ".join(f"{site}={n}" for site, n in decision.desired.items())
        self.echo(f">>> t+{time.monotonic() - self.started:5.1f}s elastic: "
                  f"{', '.join(acts) or ('no action' if reasons else 'nothing to do')} "
                  f"(desired executors {desired})")
        for reason in decision.reasons:
            self.echo(f"      {reason}")


def _table(status: PoolStatus | None) -> list[str]:
    if status is None:
        return ["(no status yet)"]
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for (role, site, phase), n in status.counts.items():
        rows.setdefault((role, site), {})[phase] = n
    order = {r.value: i for i, r in enumerate(ROLE_ORDER + (Role.BROKER,))}
    lines = [f"{role:<9} {site:<8} " + " ".join(f"{p}={n}" for p, n in sorted(phases.items()))
             for (role, site), phases in sorted(rows.items(), key=lambda kv: (order[kv[0][0]],
                                                                             kv[0][1]))]
    if status.reasons:
        lines.append(f"waiting: {status.reasons[0][0]} ({status.reasons[0][1]})")
    return lines or ["no tasks yet"]
