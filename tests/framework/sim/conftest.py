"""Fixtures for the Mesos emulator tests: a small two-site cluster, a master, raw clients."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

import tests.conftest as _root
from framework.sim.mesos.cluster import SimCluster
from framework.sim.mesos.master import EmulatedMaster
from framework.sim.mesos.model import SiteLayout
from tests.framework.sim.rawclient import Scheduler

if not hasattr(_root, "zookeeper"):   # the shared fixture lives in tests/services.py
    from tests.services import zookeeper  # noqa: F401

SITES = [
    SiteLayout("dc", agents=3, cpus=4, mem=8192, disk=10240, network="calico-dc", cidr="10.1.0.0/16"),
    SiteLayout("cloud", agents=2, cpus=2, mem=4096, disk=10240, network="calico-cloud",
               cidr="10.2.0.0/16", region="eu-west", zone="eu-west-1a"),
]


def make_cluster(**kwargs) -> SimCluster:
    options = dict(seed=7, allocation_interval_s=0.05, update_retry_s=30.0)
    options.update(kwargs)
    sites = options.pop("sites", SITES)
    return SimCluster.build(sites, **options)


@pytest.fixture
def cluster() -> Iterator[SimCluster]:
    c = make_cluster()
    yield c
    c.close()


@pytest.fixture
def master(cluster: SimCluster) -> Iterator[EmulatedMaster]:
    m = EmulatedMaster(cluster, heartbeat_s=0.2).start()
    yield m
    m.stop()


@pytest.fixture
def schedulers(master: EmulatedMaster) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(**info) -> Scheduler:
        framework_info = {"user": "test", "name": f"raw-{len(made)}"}
        framework_info.update(info)
        s = Scheduler("127.0.0.1", master.port, framework_info)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def sched(schedulers) -> Scheduler:
    return schedulers()
