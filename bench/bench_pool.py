"""How fast a real pool serves jobs, against the negotiation interval configured.

The production framework runs on the emulated Mesos cluster whose agents run the real
role images (HTCondor 23.9 daemons, Docker engine; the images must be built:
``htcmesos images build``). For each negotiation interval it measures:

1. **start → first job running**: from ``run_framework`` starting (nothing running yet)
   to the first job's start; the job is submitted as soon as the submitter is healthy;
2. **submit → running on an idle executor**: a job submitted to a pool whose executors
   are up and idle, ``--samples`` times (HTCondor's own ``QDate`` and
   ``JobCurrentStartDate``, whole seconds).

Each figure is printed with its ratio to the interval: the pool waits for a negotiation
cycle, so a ratio near or below 1 means the framework adds nothing on top of HTCondor.
``--htcondor-defaults`` adds a baseline with HTCondor's default interval and update
period (60 s, 300 s: minutes per sample). Each sample waits until every slot is
unclaimed first, so it measures a fresh match, not a claim the schedd reuses.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker  # noqa: E402

from framework.condor.images import default_tags  # noqa: E402
from framework.model import Role  # noqa: E402
from framework.sim.condorpool import SubmitHost  # noqa: E402
from framework.sim.docker.runner import DockerTaskRunner  # noqa: E402
from framework.sim.emulated_run import EmulatedRun  # noqa: E402
from framework.spec import parse_spec  # noqa: E402

SPEC = """
pool: {{name: bench, trust_domain: bench.example, signing_key_file: key,
        negotiator_interval: {interval}, update_interval: {update}, job_lease: 60}}
sites:
  - {{name: dc, calico: {{network: htcm-bench-{tag}, cidr: 10.238.{octet}.0/24}},
     executors: {{min: 2, max: 2}}}}
roles:
  master: {{image: {master}, cpus: 1, mem: 1024, health_check: {{interval: 1, grace_period: 120}}}}
  submitter: {{image: {submitter}, cpus: 1, mem: 1024, health_check: {{interval: 1, grace_period: 120}}}}
  executor: {{image: {executor}, cpus: 2, mem: 2048, health_check: {{interval: 1, grace_period: 120}}}}
backend: {{type: sim, sim: {{agents_per_site: 2}}}}
"""


def job_times(host: SubmitHost, cluster: int) -> tuple[int, int] | None:
    """(QDate, JobCurrentStartDate) of the cluster's job once it started."""
    out = host.run(f"condor_q {cluster} -af QDate JobCurrentStartDate; "
                   f"condor_history {cluster} -af QDate JobCurrentStartDate").split()
    if len(out) >= 2 and out[1].isdigit():
        return int(out[0]), int(out[1])
    return None


def wait_start(host: SubmitHost, cluster: int, timeout_s: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = job_times(host, cluster)
        if found:
            return found
        time.sleep(0.25)
    raise SystemExit(f"job {cluster} did not start within {timeout_s:g} s")


def unclaimed(master: str, timeout_s: float) -> None:
    """Wait until every slot in the collector is unclaimed (the schedd let its claims go).

    Asked from a child process: the htcondor2 bindings hold the GIL while they wait on
    the network, which would stall the framework running in this one."""
    probe = ("import htcondor2, sys; ads = htcondor2.Collector(sys.argv[1]).query("
             "htcondor2.AdType.Startd, 'true', ['State']); "
             "sys.exit(0 if ads and all(a.get('State') == 'Unclaimed' for a in ads) else 1)")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if subprocess.run([sys.executable, "-c", probe, f"{master}:9618?sock=collector"],
                          capture_output=True, timeout=60).returncode == 0:
            return
        time.sleep(0.25)
    raise SystemExit(f"slots still claimed after {timeout_s:g} s")


def measure(client, images, interval: float, update: float, samples: int, octet: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        (Path(tmp) / "key").write_text("bench key\n")
        spec = parse_spec(SPEC.format(interval=interval, update=update, tag=octet, octet=octet,
                                      master=images[Role.MASTER],
                                      submitter=images[Role.SUBMITTER],
                                      executor=images[Role.EXECUTOR]), "bench", Path(tmp))
        runner = DockerTaskRunner(client, poll_s=0.2)
        run = EmulatedRun(spec, Path(tmp), runner, tick_s=0.2)
        try:
            began = time.time()
            run.start()
            sub = run.wait(lambda: next((r for r in run.records()
                                         if r.role is Role.SUBMITTER and r.confirmed), None),
                           300, "submitter healthy")
            host = SubmitHost(next(iter(client.containers.list(
                filters={"label": f"htcmesos.task_id={sub.task_id}"}))))
            first = host.submit(None, 0, 1, command="true")
            _, started = wait_start(host, first, 300 + 3 * interval)
            to_first = started - began
            run.wait(lambda: sum(1 for r in run.records() if r.role is Role.EXECUTOR
                                 and r.confirmed) == 2, 120, "executors healthy")
            latencies = []
            for _ in range(samples):
                unclaimed(spec.master_address, 120)   # a fresh match, not a reused claim
                cluster = host.submit(None, 0, 1, command="true")
                queued, started = wait_start(host, cluster, 60 + 3 * interval)
                latencies.append(started - queued)
        finally:
            run.close()
            runner.close()
    return {"interval": interval, "to_first": to_first, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intervals", default="2,10",
                        help="negotiation intervals to measure, seconds (default 2,10)")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--htcondor-defaults", action="store_true",
                        help="also measure with HTCondor's defaults (slow: minutes)")
    args = parser.parse_args()
    client = docker.from_env(timeout=300)
    images = default_tags()
    configs = [(float(i), max(2.0, float(i))) for i in args.intervals.split(",")]
    if args.htcondor_defaults:
        configs.append((60.0, 300.0))
    print(f"{'interval':>9} {'start→first job':>16} {'ratio':>6} "
          f"{'submit→running (median, min–max)':>34} {'ratio':>6}")
    for n, (interval, update) in enumerate(configs):
        r = measure(client, images, interval, update, args.samples, 50 + n)
        lat = r["latencies"]
        med = statistics.median(lat)
        print(f"{interval:>8g}s {r['to_first']:>15.1f}s {r['to_first'] / interval:>6.1f} "
              f"{med:>18.1f}s ({min(lat)}–{max(lat)} s){'':>4} {med / interval:>6.2f}")


if __name__ == "__main__":
    main()
