"""Time to answer one OFFERS event of N offers (default 10,000), on one core.

Measures the framework's whole answer — parse every offer, plan, build every TaskInfo,
persist the state, issue the ACCEPT/DECLINE calls (to a recording driver, so the figure is
the framework's own work) — against a baseline measured in the same run: the first-fit
matcher HTMframe used (for every wanted task, scan the offer list from the start).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.backends.credentials import FetchedCredentials, read_signing_key  # noqa: E402
from framework.backends.fetchserver import CredentialServer  # noqa: E402
from framework.backends.mesos.framework import MesosFramework, Options  # noqa: E402
from framework.backends.mesos.offers import SiteMatcher, parse_offer  # noqa: E402
from framework.clock import ManualClock  # noqa: E402
from framework.mesos.protocol import Resources, ranges, scalar, text_attribute  # noqa: E402
from framework.model import Role  # noqa: E402
from framework.spec import parse_spec  # noqa: E402
from framework.state import FileStore  # noqa: E402

#: The pool's signing key: a throw-away file next to this script's working folder.
KEY_DIR = Path(tempfile.mkdtemp(prefix="htcm-bench-"))
(KEY_DIR / "bench-pool.key").write_text("bench pool signing key\n")


def bench_spec():
    """The benchmark pool (its key file in :data:`KEY_DIR`)."""
    return parse_spec(SPEC, "bench", KEY_DIR)


SPEC = """
pool: {name: bench, trust_domain: bench.example, signing_key_file: bench-pool.key}
sites:
  - {name: dc, calico: {network: calico-dc, cidr: 10.0.0.0/8}, executors: {min: 0, max: 100000}}
roles:
  master: {image: m, cpus: 1, mem: 1024}
  submitter: {image: s, cpus: 1, mem: 1024}
  executor: {image: e, cpus: 4, mem: 8192, disk: 10240}
autoscaling: {max_launches_per_tick: 100000}
backend: {type: mesos, mesos: {master: "http://127.0.0.1:5050", role: htcondor}}
"""


class RecordingDriver:
    framework_id = "bench"

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name):
        def record(*args):
            self.calls += 1
        return record


def make_offers(n: int) -> list[dict]:
    return [{"id": {"value": f"o{i}"}, "agent_id": {"value": f"a{i}"}, "hostname": f"h{i}",
             "framework_id": {"value": "bench"}, "allocation_info": {"role": "htcondor"},
             "resources": [scalar("cpus", 8), scalar("mem", 16384), scalar("disk", 100000),
                           ranges("ports", [(31000, 32000)])],
             "attributes": [text_attribute("site", "dc")]} for i in range(n)]


def ready_framework(tmp: str, wanted: int) -> tuple[MesosFramework, RecordingDriver]:
    spec = bench_spec()
    clock = ManualClock()
    # credentials as in production: a token minted and a single-use URL per executor
    server = CredentialServer("127.0.0.1:0", None, clock.now).start()
    credentials = FetchedCredentials(spec, read_signing_key(spec.pool.signing_key_file),
                                     server, clock.wall)
    fw = MesosFramework(spec, FileStore(Path(tmp) / "state.json"), clock,
                        Options(reconcile_settle_s=0), credentials)
    driver = RecordingDriver()
    fw.registered(driver, {"value": "bench"}, {})
    fw.tick()
    for role, ip in ((Role.MASTER, "10.0.0.1"), (Role.SUBMITTER, "10.0.0.2")):
        fw.resourceOffers(driver, make_offers(1))
        rec = next(r for r in fw.records.values() if r.role is role)
        for extra in ({"container_status": {"network_infos": [{"ip_addresses": [
                {"ip_address": ip}]}]}}, {"healthy": True}):
            fw.statusUpdate(driver, {"task_id": {"value": rec.task_id},
                                     "state": "TASK_RUNNING", **extra})
    fw.set_desired_executors("dc", wanted)
    return fw, driver


def baseline_first_fit(raw_offers: list[dict], wanted: int, need: Resources) -> int:
    """HTMframe-style: per task, scan offers from the start for the first that still fits."""
    matcher = SiteMatcher(bench_spec().sites)
    offers = [parse_offer(o, matcher) for o in raw_offers]
    left = [[o.resources.cpus, o.resources.mem, o.resources.disk] for o in offers]
    placed = 0
    for _ in range(wanted):
        for slot in left:
            if slot[0] >= need.cpus and slot[1] >= need.mem and slot[2] >= need.disk:
                slot[0] -= need.cpus
                slot[1] -= need.mem
                slot[2] -= need.disk
                placed += 1
                break
    return placed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--offers", type=int, default=10_000)
    ap.add_argument("--wanted", type=int, default=10_000, help="executors wanted")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    offers = make_offers(args.offers)
    with tempfile.TemporaryDirectory() as tmp:
        fw, driver = ready_framework(tmp, args.wanted)
        before = fw.launches
        t0 = time.perf_counter()
        fw.resourceOffers(driver, offers)
        ours = time.perf_counter() - t0
        launched = fw.launches - before
    t0 = time.perf_counter()
    placed = baseline_first_fit(offers, launched, Resources(4, 8192, 10240))
    base = time.perf_counter() - t0
    print(f"OFFERS event: {args.offers} offers, {args.wanted} executors wanted, one core")
    print(f"  htcmesos answer (parse+plan+TaskInfos+state+calls): {ours:.3f} s, "
          f"{launched} tasks launched, {driver.calls} calls")
    print(f"  baseline first-fit placement only (HTMframe style): {base:.3f} s, "
          f"{placed} placed")
    print(f"  ratio baseline/htcmesos: {base / ours:.2f}x   target: htcmesos ≤ 1 s "
          f"→ {'MET' if ours <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
