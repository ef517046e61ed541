"""The role containers' follower: the ZooKeeper reader against real ZooKeeper, the
Consul source against the agent emulator, the override file and condor_reconfig."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from htcmesos_role import discovery
from htcmesos_role.discovery import (ConsulSource, ZooKeeperSource, follow_once, initial_sync,
                                     poll_interval, source_for)
from htcmesos_role.paths import Paths
from htcmesos_role.pool import address_for_role
from htcmesos_role.zkread import ZkReadError, ZooKeeperReader, parse_hosts


@pytest.fixture
def znode(zookeeper):
    from kazoo.client import KazooClient
    zk = KazooClient(zookeeper.hosts)
    zk.start(5)
    path = f"/htcmesos/f{random.randrange(10**6)}/central-manager"
    try:
        yield zk, path
    finally:
        zk.stop()
        zk.close()


def record(address: str, task: str = "t") -> bytes:
    return json.dumps({"address": address, "collector": f"{address}:9618?sock=collector",
                       "task_id": task, "published_at": 1.0}).encode()


def test_the_reader_gets_data_and_sees_missing_nodes(zookeeper, znode):
    zk, path = znode
    reader = ZooKeeperReader(f"127.0.0.1:1,{zookeeper.hosts}")     # the first is down
    try:
        assert reader.get(path) is None
        zk.create(path, b"one", makepath=True)
        assert reader.get(path) == b"one"
        zk.set(path, b"two")
        assert reader.get(path) == b"two"                          # same session
        assert reader.get(path.rsplit("/", 1)[0]) == b""           # a parent made empty
    finally:
        reader.close()


def test_the_reader_names_what_failed():
    with pytest.raises(ZkReadError, match="no ZooKeeper server answered"):
        ZooKeeperReader("127.0.0.1:1", timeout_s=0.5).get("/a")
    assert parse_hosts("a:1,[::1]:2,b") == [("a", 1), ("::1", 2), ("b", 2181)]
    with pytest.raises(ZkReadError, match="bad ZooKeeper host"):
        parse_hosts("a:b")


def test_follow_once_writes_the_override_and_reconfigures(zookeeper, znode, tmp_path):
    zk, path = znode
    paths = Paths(tmp_path)
    env = {"HTCMESOS_MASTER_ADDRESS": "10.1.0.2", "HTCMESOS_ROOT": str(tmp_path)}
    url = f"zk://{zookeeper.hosts}{path}"
    source = source_for(url)
    calls, said = [], []
    try:
        assert follow_once(source, paths, env, url, lambda: calls.append(1) or True,
                           said.append) == (None, True)          # nothing published
        zk.create(path, record("10.1.0.2"), makepath=True)
        assert follow_once(source, paths, env, url, lambda: calls.append(1) or True,
                           said.append) == (None, True)          # where it already is
        assert not paths.discovery_config_file.exists() and calls == []
        zk.set(path, record("10.1.0.9", "t2"))
        assert follow_once(source, paths, env, url, lambda: calls.append(1) or True,
                           said.append) == ("10.1.0.9", True)
        assert calls == [1]
        text = paths.discovery_config_file.read_text()
        assert "CONDOR_HOST = 10.1.0.9\n" in text
        assert "COLLECTOR_HOST = 10.1.0.9:9618?sock=collector\n" in text
        assert paths.discovery_config_file.name == "60-htcmesos-discovery.conf"
        assert paths.central_manager_file.read_text() == "10.1.0.9\n"
        # the health check asks the collector where the follower found it
        assert address_for_role("executor", env) == "10.1.0.9:9618?sock=collector"
        assert address_for_role("master", env) == "localhost:9618?sock=collector"
        # a failed reconfig is reported (the caller tries again)
        zk.set(path, record("10.1.0.10", "t3"))
        assert follow_once(source, paths, env, url, lambda: False, said.append) == \
            ("10.1.0.10", False)
        # an unreadable source changes nothing
        zk.set(path, b"garbage")
        assert follow_once(source, paths, env, url, lambda: True, said.append) == (None, True)
        assert paths.central_manager_file.read_text() == "10.1.0.10\n"
        assert "holds no central-manager record" in said[-1]
    finally:
        source.close()


def test_the_consul_source_reads_passing_masters(tmp_path):
    import socket
    import time

    import requests

    from framework.sim.consul import EmulatedConsul
    agent = EmulatedConsul().start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        source = source_for(f"consul+{agent.url}/rp-cm")
        assert isinstance(source, ConsulSource) and source.read() is None
        for task, address, at, target in (("t1", "10.1.0.2", "1.0", f"127.0.0.1:{port}"),
                                          ("t2", "10.1.0.9", "2.0", f"127.0.0.1:{port}"),
                                          ("t3", "10.1.0.7", "3.0", "127.0.0.1:1")):
            requests.put(agent.url + "/v1/agent/service/register", timeout=5, json={
                "Name": "rp-cm", "ID": f"rp-cm-{task}", "Address": address, "Port": 9618,
                "Meta": {"published_at": at},
                "Check": {"TCP": target, "Interval": "100ms"}}).raise_for_status()
        deadline = time.monotonic() + 5
        while source.read() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # the newest whose check passes (t3's fails)
        assert source.read() == "10.1.0.9"
        env = {"HTCMESOS_MASTER_ADDRESS": "10.1.0.2"}
        calls = []
        url = f"consul+{agent.url}/rp-cm"
        assert follow_once(source, Paths(tmp_path), env, url,
                           lambda: calls.append(1) or True, lambda m: None) == ("10.1.0.9", True)
        assert ("GET", "/v1/health/service/rp-cm?passing", 200) in agent.requests
    finally:
        sock.close()
        agent.stop()


def test_initial_sync_waits_for_a_placeholder_address(zookeeper, znode, tmp_path):
    zk, path = znode
    env = {"HTCMESOS_DISCOVERY": f"zk://{zookeeper.hosts}{path}",
           "HTCMESOS_MASTER_ADDRESS": "central-manager.invalid"}
    sleeps = []

    def sleep(s):            # the master is published while the follower waits
        sleeps.append(s)
        if len(sleeps) == 2:
            zk.create(path, record("10.1.0.4"), makepath=True)
    assert initial_sync(env, Paths(tmp_path), lambda m: None, sleep) == "10.1.0.4"
    assert sleeps == [1.0, 1.0]
    assert "CONDOR_HOST = 10.1.0.4" in Paths(tmp_path).discovery_config_file.read_text()
    assert initial_sync({}, Paths(tmp_path)) is None


def test_initial_sync_gives_up_on_a_placeholder(monkeypatch, tmp_path):
    env = {"HTCMESOS_DISCOVERY": "zk://127.0.0.1:1/a", "HTCMESOS_MASTER_ADDRESS":
           "central-manager.invalid"}
    clock = iter(range(0, 1000, 30))
    monkeypatch.setattr(discovery.time, "monotonic", lambda: next(clock))
    with pytest.raises(RuntimeError, match="no central manager published at zk://"):
        initial_sync(env, Paths(tmp_path), lambda m: None, lambda s: None)


@pytest.mark.parametrize("url, match", [
    ("http://h:8500/x", "must start with zk:// or consul"),
    ("zk://h:2181", "must be zk://host"),
    ("consul+http://h:8500", "must be consul\\+http"),
])
def test_bad_discovery_urls_are_named(url, match):
    with pytest.raises(ValueError, match=match):
        source_for(url)


def test_poll_interval():
    assert poll_interval({"HTCMESOS_UPDATE_INTERVAL": "2"}) == 0.5
    assert poll_interval({"HTCMESOS_UPDATE_INTERVAL": "300"}) == 2.0
    assert poll_interval({"HTCMESOS_UPDATE_INTERVAL": "x"}) == 2.0
    assert poll_interval({"HTCMESOS_UPDATE_INTERVAL": "0.1"}) == 0.25


def test_the_follower_is_python_3_9_syntax():
    import ast
    for name in ("discovery.py", "zkread.py"):
        src = (Path(discovery.__file__).parent / name).read_text()
        ast.parse(src, feature_version=(3, 9))
    assert isinstance(source_for("zk://h:2181/a"), ZooKeeperSource)


def test_a_source_that_stays_unreachable_is_said_once():
    said = []
    say = discovery.without_repeats(said.append)
    for message in ["cannot read zk://a: down", "cannot read zk://a: down",
                    "central manager moved to 10.1.0.9", "cannot read zk://a: down"]:
        say(message)
    assert said == ["cannot read zk://a: down", "central manager moved to 10.1.0.9",
                    "cannot read zk://a: down"]
