"""Leader failover through a real ZooKeeper: from the new leader's election to the
framework subscribed to it, over N failovers.

Each round, as Mesos fails in production: the leading master's process dies
(:meth:`EmulatedMaster.crash`) while its ZooKeeper session lives on for a seeded 1–10 s
(Mesos' session timeout is 10 s), so ZooKeeper still names it and the framework fails to
connect to it, backing off; then the session expires and the waiting follower leads. The
figure: the wall time from the dead leader's session ending (its node deleted, which makes
the follower's node the lowest) to the framework subscribed to the follower, polled every
5 ms. Baseline in the same run: the same driver with
pymesos' stock back-off (sleeps of 2, 4, 8, 15 s on its IO thread that news of a new
leader does not cut short, as htcmesos' driver did before). Needs ZooKeeper (Debian
``zookeeper``; started here on loopback).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymesos import process as pm_process  # noqa: E402

from framework.backends.mesos.framework import Options  # noqa: E402
from framework.controller import run_framework  # noqa: E402
from framework.mesos import driver as drv  # noqa: E402
from framework.sim.from_spec import site_layouts, with_mesos_backend  # noqa: E402
from framework.sim.mesos.cluster import SimCluster  # noqa: E402
from framework.sim.mesos.master import EmulatedMaster  # noqa: E402
from framework.spec import parse_spec  # noqa: E402
from tests.services import ZooKeeperServer  # noqa: E402

SPEC = """
pool: {name: fo, trust_domain: fo.example, signing_key_file: key}
sites:
  - {name: dc, calico: {network: calico-dc, cidr: 10.1.0.0/16}, executors: {min: 2, max: 4}}
roles:
  master: {image: m, cpus: 1, mem: 1024}
  submitter: {image: s, cpus: 1, mem: 1024}
  executor: {image: e, cpus: 2, mem: 2048}
autoscaling: {enabled: false}
backend: {type: sim, sim: {agents_per_site: 3}}
"""


def wait(predicate, timeout_s: float, what: str, poll_s: float = 0.005) -> float:
    """The wall time at which ``predicate()`` first held (polled); RuntimeError after."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return time.monotonic()
        time.sleep(poll_s)
    raise RuntimeError(f"{what}: not within {timeout_s:g} s")


class Stock:
    """The driver as before: back-off sleeps that a new leader does not cut short."""

    def __enter__(self):
        self.saved = (pm_process.time, drv.Driver._nap, drv.Driver.change_master)
        pm_process.time = time
        drv.Driver._nap = lambda self, seconds: time.sleep(seconds)
        drv.Driver.change_master = pm_process.Process.change_master
        return self

    def __exit__(self, *exc):
        pm_process.time, drv.Driver._nap, drv.Driver.change_master = self.saved


def failovers(zk: ZooKeeperServer, rounds: int, seed: int, workdir: Path) -> list[float]:
    rng = random.Random(seed)
    (workdir / "key").write_text("failover bench key\n")
    spec = parse_spec(SPEC, "bench", workdir)
    cluster = SimCluster.build(site_layouts(spec), seed=seed, allocation_interval_s=0.1)
    url = zk.url(f"/mesos-bench-{seed}-{time.monotonic_ns()}")
    leader = EmulatedMaster(cluster, heartbeat_s=1.0, zk=url).start()
    wait(lambda: leader.is_leader, 15, "first leader")
    follower = EmulatedMaster(cluster, heartbeat_s=1.0, zk=url).start()
    stop = threading.Event()
    box: dict = {}
    spec = with_mesos_backend(spec, url, workdir / "state.json")
    thread = threading.Thread(target=run_framework, args=(spec, stop), kwargs=dict(
        tick_s=0.2, options=Options(reconcile_settle_s=0.2, refuse_s=1.0), elastic=False,
        on_start=lambda fw: box.update(fw=fw)), daemon=True)
    thread.start()
    out: list[float] = []
    try:
        wait(lambda: "fw" in box, 10, "framework start")
        fw = box["fw"]
        subscribed = lambda m: fw.driver.master == m.address and fw.driver.connected  # noqa: E731
        wait(lambda: subscribed(leader), 30, "subscribed to the first leader")
        for _ in range(rounds):
            leader.crash()
            time.sleep(rng.uniform(1.0, 10.0))     # the dead leader's session lingers
            expired = time.monotonic()
            leader.expire()                        # its node goes: the follower leads
            wait(lambda: follower.is_leader, 15, "follower elected")
            done = wait(lambda: subscribed(follower), 120, "subscribed to the new leader")
            out.append(done - expired)
            leader, follower = follower, EmulatedMaster(cluster, heartbeat_s=1.0,
                                                         zk=url).start()
    finally:
        stop.set()
        thread.join(10)
        for master in (leader, follower):
            master.stop()
        cluster.close()
    return out


def describe(label: str, samples: list[float]) -> str:
    ranked = sorted(samples)
    p95 = ranked[min(len(ranked) - 1, int(0.95 * len(ranked)))]
    return (f"{label:<32} n={len(samples)} min {ranked[0]:.2f} s, median "
            f"{statistics.median(ranked):.2f} s, p95 {p95:.2f} s, max {ranked[-1]:.2f} s; "
            f"≤ 1 s: {sum(1 for s in ranked if s <= 1.0)}/{len(ranked)}")


@contextlib.contextmanager
def zookeeper_here():
    """A ZooKeeper on loopback and a scratch folder, for one benchmark run."""
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="htcm-bench-") as tmp:
        zk = ZooKeeperServer(Path(tmp) / "zk")
        zk.start()
        try:
            yield zk, Path(tmp)
        finally:
            zk.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with zookeeper_here() as (zk, tmp):
        ours = failovers(zk, args.rounds, args.seed, tmp)
        with Stock():
            stock = failovers(zk, args.rounds, args.seed, tmp)
    print(describe("htcmesos driver", ours))
    print(describe("baseline: stock pymesos back-off", stock))
    print(f"median ratio htcmesos / baseline: "
          f"{statistics.median(ours) / max(statistics.median(stock), 1e-9):.2f}×; target: "
          f"every failover ≤ 1 s: {'met' if max(ours) <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
