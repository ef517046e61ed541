"""``htcmesos demo``: the embedded default — the two-site example pool on an emulated
Mesos cluster (strict master over real HTTP on loopback, simulated agents), run by the
real framework, with a live view of the pool until Ctrl-C or ``--duration``."""
from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .backends.mesos import Options, PoolStatus
from .controller import run_framework
from .errors import SpecError
from .model import ROLE_ORDER
from .spec import parse_spec
from .sim.from_spec import site_layouts, with_mesos_backend

#: Executors the demo asks for per site (within the spec's limits), to show scaling.
DEMO_EXECUTORS = 3
#: Without --duration, an agent is lost this many seconds in (to show a replacement).
LOSS_AFTER_S = 20.0


def run_demo(spec_text: str, duration: float | None, echo: Callable[[str], None]) -> int:
    """Run the demo; return the process exit code."""
    from .sim.mesos_cluster import SimCluster
    from .sim.mesos_master import EmulatedMaster

    try:
        spec = parse_spec(spec_text, "embedded demo spec", Path.cwd())
    except SpecError as exc:  # the embedded spec is ours: a failure is a bug
        echo(exc.report())
        return 1
    with tempfile.TemporaryDirectory(prefix="htcmesos-demo-") as tmp:
        key = Path(tmp) / "pool-signing-key"
        key.write_bytes(b"demo-only key, generated per run\n")
        key.chmod(0o600)
        spec = dataclasses.replace(spec, pool=dataclasses.replace(spec.pool,
                                                                  signing_key_file=key))
        cluster = SimCluster.build(site_layouts(spec), seed=spec.backend.sim.seed,
                                   allocation_interval_s=0.5)
        master = EmulatedMaster(cluster, heartbeat_s=2.0).start()
        spec = with_mesos_backend(spec, master.url, Path(tmp) / "state.json")
        echo(f"htcmesos demo: pool {spec.pool.name} on an emulated Mesos cluster at "
             f"{master.url}")
        for layout in site_layouts(spec):
            site = spec.site(layout.name)
            echo(f"  site {site.name:<8} {'private (CCB)' if site.private else 'public':<14} "
                 f"{layout.agents} agents ({site.agents.describe()}), network "
                 f"{site.calico_network} {site.cidr}")
        stop = threading.Event()
        view = _LiveView(echo, time.monotonic())
        timers = [threading.Timer(duration, stop.set)] if duration is not None else []
        box: dict = {}

        def lose_an_agent() -> None:
            """Half-way: an agent running an executor vanishes; the framework replaces it."""
            fw = box.get("fw")
            records = list(fw.records.values()) if fw else []
            central = {r.agent_id for r in records if r.role.value != "executor"}
            victim = next((r for r in records if r.role.value == "executor" and r.phase.active
                           and r.agent_id and r.agent_id not in central), None)
            if victim is not None:
                echo(f"*** demo: agent {victim.agent_id} at site {victim.site} is lost "
                     f"(executor {victim.task_id} goes with it)")
                cluster.lose_agent(victim.agent_id)
        timers.append(threading.Timer(duration / 2 if duration else LOSS_AFTER_S, lose_an_agent))
        for timer in timers:
            timer.daemon = True
            timer.start()

        def on_start(fw) -> None:
            box["fw"] = fw
            for site in spec.sites:
                fw.set_desired_executors(site.name, max(site.executors_min,
                                                        min(DEMO_EXECUTORS, site.executors_max)))
        try:
            status = run_framework(spec, stop, tick_s=0.5, on_status=view.show, on_start=on_start,
                                   options=Options(reconcile_settle_s=0.5, refuse_s=1.0))
        except KeyboardInterrupt:
            stop.set()
            status = view.last
        finally:
            for timer in timers:
                timer.cancel()
            master.stop()
            cluster.close()
        echo("")
        echo("final pool state:")
        for line in _table(status):
            echo("  " + line)
        echo(f"  {status.launches} task launches, {status.failures} failures, master at "
             f"{status.master_address or 'none'}")
    return 0


class _LiveView:
    """Prints the pool's table whenever it changes (at most every half second)."""

    def __init__(self, echo: Callable[[str], None], started: float):
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


def _table(status: PoolStatus | None) -> list[str]:
    if status is None:
        return ["(no status yet)"]
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for (role, site, phase), n in status.counts.items():
        rows.setdefault((role, site), {})[phase] = n
    order = {r.value: i for i, r in enumerate(ROLE_ORDER)}
    lines = [f"{role:<9} {site:<8} " + " ".join(f"{p}={n}" for p, n in sorted(phases.items()))
             for (role, site), phases in sorted(rows.items(), key=lambda kv: (order[kv[0][0]],
                                                                             kv[0][1]))]
    if status.reasons:
        lines.append(f"waiting: {status.reasons[0][0]} ({status.reasons[0][1]})")
    return lines or ["no tasks yet"]
