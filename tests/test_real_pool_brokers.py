"""Two connection brokers in a real pool: the central manager's collector and one
collector-only broker task at its site; the private campus executors split between them
(the framework gives each new one the broker with the fewest), and jobs run through both.

The production framework against the strict Mesos emulator whose agents run the real
role images (HTCondor daemons) on iptables'd Docker networks: campus takes no inbound
connection, so the schedd reaches its startds and starters only through their brokers.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from typing import Iterator

import pytest

from framework.condor.brokers import plan_brokers
from framework.model import Role
from framework.sim.condorpool import SubmitHost
from tests.realpool import _QUERY, RealPool, wait_job
from tests.services import wait_for

pytestmark = pytest.mark.docker

NETWORK = "network: {brokers: {count: 2}}"


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("brokers"),
                    {"campus": 2}, network=NETWORK)
    try:
        yield real.start()
    finally:
        real.close()


def ccb_brokers(address: str) -> set[str]:
    """The broker addresses (host:port) in a sinful string's CCBIDs."""
    match = re.search(r"CCBID=([^&>]+)", address or "")
    if not match:
        return set()
    ids = urllib.parse.unquote(match.group(1)).split()
    return {i.split("#")[0].split("?")[0] for i in ids}


@pytest.mark.timeout(300)
def test_campus_executors_split_between_two_brokers_and_jobs_run_through_both(pool: RealPool):
    plan = plan_brokers(pool.spec)
    assert plan.count == 2
    central, extra = plan.brokers
    broker = pool.one(Role.BROKER, "dc")
    assert (broker.ip, broker.broker) == (extra.address, 1)       # its fixed address
    executors = pool.confirmed(Role.EXECUTOR, "campus")
    assert sorted(r.broker for r in executors) == [0, 1]          # one each, by the framework
    # each startd registered with its own broker: its advertised contact names only it
    want = {r.task_id: {f"{plan.broker(r.broker).address}:9618"} for r in executors}
    seen: dict[str, set[str]] = {}

    def registered() -> bool:
        for task_id in want:
            ad = pool.startd_of(task_id) or {}
            seen[task_id] = ccb_brokers(ad.get("MyAddress") or "")
        return seen == want

    assert wait_for(registered, 60, interval_s=1.0), (seen, want)
    # the broker's collector is a collector of its own (no negotiator), answering queries
    assert wait_for(lambda: any(
        "broker 1" in str(ad.get("Name")) for ad in ads_at(pool, extra.address, "Collector")),
        30, interval_s=1.0)
    # jobs for campus: 4 × 1 core fill both 2-core executors (depth first: 2 on each);
    # the schedd at dc claims and runs them through each executor's broker
    host: SubmitHost = pool.submit_host()
    cluster = host.submit("campus", 4, 4)
    jobs = wait_job(host, cluster, lambda js: len(js) == 4
                    and all(j.status == "completed" for j in js), 150, "the campus jobs")
    ran_on = {j.host.split("@")[-1] for j in jobs}
    names = {pool.hostname(r.task_id): r.broker for r in executors}
    assert ran_on <= set(names), (ran_on, names)
    assert {names[h] for h in ran_on} == {0, 1}, (ran_on, names)   # through both brokers


def ads_at(pool: RealPool, address: str, ad_type: str) -> list[dict]:
    """Ads from the collector at ``address`` (a broker's), queried from the host (in a
    child process, as :meth:`RealPool.ads`)."""
    proc = subprocess.run([sys.executable, "-c", _QUERY, f"{address}:9618?sock=collector",
                           ad_type, "true", json.dumps(["Name"])],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout) if proc.returncode == 0 else []
