"""The publishers against real ZooKeeper and the strict Consul agent emulator."""
from __future__ import annotations

import json
import random
import socket
import threading
from typing import Iterator

import pytest
import requests

from framework.clock import ManualClock
from framework.discovery import Announcer, Record, follower_url, running_master
from framework.discovery.consul import ConsulPublisher
from framework.discovery.zookeeper import ZooKeeperPublisher
from framework.errors import DiscoveryError, DiscoveryRejected, DiscoveryUnavailable
from framework.spec import DiscoverySpec
from tests.services import free_port, wait_for


# -- ZooKeeper (real) ------------------------------------------------------------------------
def test_zookeeper_publishes_once_per_change_and_survives_a_new_publisher(zookeeper):
    url = zookeeper.url(f"htcmesos/zk{random.randrange(10**6)}/central-manager")
    pub = ZooKeeperPublisher(url)
    try:
        assert pub.current() is None
        assert pub.publish(Record("10.1.0.2", "rp.master.dc.aa", 100.0)) is True
        assert pub.publish(Record("10.1.0.2", "rp.master.dc.aa", 200.0)) is False  # same
        assert pub.publish(Record("10.1.0.9", "rp.master.dc.bb", 300.0)) is True
    finally:
        pub.close()
    again = ZooKeeperPublisher(url)               # a restarted framework
    try:
        assert again.current() == Record("10.1.0.9", "rp.master.dc.bb", 300.0)
        _, path = url[5:].split("/", 1)
        from kazoo.client import KazooClient
        zk = KazooClient(zookeeper.hosts)
        zk.start(5)
        try:
            import json
            data, stat = zk.get("/" + path)
            assert json.loads(data) == {"address": "10.1.0.9",
                                        "collector": "10.1.0.9:9618?sock=collector",
                                        "task_id": "rp.master.dc.bb", "published_at": 300.0}
            assert stat.version == 1 and stat.ephemeralOwner == 0   # two writes, persistent
            zk.set("/" + path, b"garbage")
        finally:
            zk.stop()
        with pytest.raises(DiscoveryError, match="holds no central-manager record"):
            again.current()
        assert again.publish(Record("10.1.0.9", "rp.master.dc.bb", 400.0)) is True
    finally:
        again.close()


def test_zookeeper_unreachable_is_discovery_unavailable():
    pub = ZooKeeperPublisher(f"zk://127.0.0.1:{free_port()}/a/b", timeout_s=0.5)
    with pytest.raises(DiscoveryUnavailable, match="not reachable"):
        pub.publish(Record("10.1.0.2", "t", 1.0))
    pub.close()


def test_a_bad_zookeeper_url_is_named():
    with pytest.raises(DiscoveryError, match="is not zk://"):
        ZooKeeperPublisher("zk://nohost")


# -- Consul (emulator) -----------------------------------------------------------------------
@pytest.fixture
def shared_port() -> Iterator[str]:
    """A loopback address whose port 9618 accepts (the master's shared port)."""
    for _ in range(20):
        address = f"127.{random.randrange(1, 250)}.{random.randrange(1, 250)}.9"
        sock = socket.socket()
        try:
            sock.bind((address, 9618))
        except OSError:
            sock.close()
            continue
        sock.listen()
        try:
            yield address
        finally:
            sock.close()
        return
    pytest.skip("no loopback address with a free port 9618")


def test_consul_registration_body_follows_the_agent_api(consul):
    pub = ConsulPublisher(consul.url, "rp-central-manager", interval_s=2, timeout_s=1)
    body = pub.registration(Record("10.1.0.2", "rp.master.dc.aa", 5.0))
    assert body == {
        "ID": "rp-central-manager-rp.master.dc.aa", "Name": "rp-central-manager",
        "Address": "10.1.0.2", "Port": 9618, "Tags": ["htcondor", "central-manager"],
        "Meta": {"task_id": "rp.master.dc.aa", "published_at": "5.000",
                 "collector": "10.1.0.2:9618?sock=collector"},
        "Check": {"Name": "HTCondor shared port", "TCP": "10.1.0.2:9618", "Interval": "2s",
                  "Timeout": "1s", "DeregisterCriticalServiceAfter": "60s"}}
    http = ConsulPublisher(consul.url, "cm", check="http", health_port=5001)
    assert http.registration(Record("10.1.0.2", "t", 1.0))["Check"]["HTTP"] == \
        "http://10.1.0.2:5001/health"


def test_consul_publish_moves_the_registration_and_the_health_view(consul, shared_port):
    pub = ConsulPublisher(consul.url, "rp-cm", interval_s=1)
    assert pub.current() is None
    assert pub.publish(Record("10.99.0.2", "t1", 1.0)) is True      # nothing listens there
    assert pub.publish(Record("10.99.0.2", "t1", 2.0)) is False     # unchanged
    assert pub.publish(Record(shared_port, "t2", 3.0)) is True      # the master moved
    services = requests.get(consul.url + "/v1/agent/services", timeout=5).json()
    assert list(services) == ["rp-cm-t2"]                            # the old one is gone
    assert pub.current() == Record(shared_port, "t2", 3.0)

    def passing():
        body = requests.get(consul.url + "/v1/health/service/rp-cm?passing", timeout=5).json()
        return [e["Service"]["Address"] for e in body]
    assert wait_for(lambda: passing() == [shared_port], 5), passing()
    methods = [(m, p.split("?")[0], s) for m, p, s in consul.requests if m == "PUT"]
    assert methods == [("PUT", "/v1/agent/service/register", 200),
                       ("PUT", "/v1/agent/service/register", 200),
                       ("PUT", "/v1/agent/service/deregister/rp-cm-t1", 200)]


def test_consul_refusals_and_outages_are_discovery_errors(consul):
    bad = ConsulPublisher(consul.url, "", interval_s=1)             # no service name
    with pytest.raises(DiscoveryRejected, match="HTTP 400 Missing service name"):
        bad.publish(Record("10.1.0.2", "t", 1.0))
    gone = ConsulPublisher(f"http://127.0.0.1:{free_port()}", "cm", request_timeout_s=1)
    with pytest.raises(DiscoveryUnavailable, match="not reachable"):
        gone.publish(Record("10.1.0.2", "t", 1.0))


class _Answer:
    def __init__(self, body):
        self.status_code, self.text, self._body = 200, json.dumps(body), body

    def json(self):
        return self._body


class _Session:
    """Answers every request 200 with ``body`` (what a non-Consul HTTP server might say)."""

    def __init__(self, body):
        self.body = body

    def request(self, method, url, **kwargs):
        return _Answer(self.body)


@pytest.mark.parametrize("body", [[1, 2], "text", 5])
def test_an_answer_that_is_no_services_object_is_discovery_unavailable(body):
    pub = ConsulPublisher("http://127.0.0.1:1", "cm", session=_Session(body))
    for call in (pub.current, lambda: pub.publish(Record("10.1.0.2", "t", 1.0))):
        with pytest.raises(DiscoveryUnavailable, match="not a JSON object"):
            call()
    odd_meta = {"cm-t": {"ID": "cm-t", "Service": "cm", "Address": "10.1.0.2", "Meta": [1]}}
    assert ConsulPublisher("http://127.0.0.1:1", "cm", session=_Session(odd_meta)).current() \
        == Record("10.1.0.2", "", 0.0)


# -- announcer -------------------------------------------------------------------------------
class FakePublisher:
    where = "fake"

    def __init__(self, stored=None):
        self.stored, self.writes, self.fail, self.reads = stored, [], False, 0
        self.gate = threading.Event()       # publish() blocks until it is set
        self.gate.set()
        self.closed, self.attempts = False, []

    def publish(self, record):
        self.attempts.append(record)
        self.gate.wait(3)       # bounded: a synchronous announcer fails the test, not hangs
        if self.fail:
            raise DiscoveryUnavailable("down")
        self.writes.append(record)
        self.stored = record
        return True

    def current(self):
        self.reads += 1
        if self.fail:
            raise DiscoveryUnavailable("down")
        return self.stored

    def close(self):
        self.closed = True


def test_the_announcer_publishes_changes_only_and_retries_after_a_failure():
    clock = ManualClock()
    pub = FakePublisher(stored=Record("10.1.0.2", "old", 1.0))
    seen = []
    ann = Announcer(pub, clock, retry_s=0.05, max_retry_s=0.2)
    ann.listeners.append(seen.append)
    ann.start()
    try:
        assert wait_for(lambda: seen == [Record("10.1.0.2", "old", 1.0)], 5)
        ann.observe(("old", "10.1.0.2"))                 # a restart: what is published
        ann.observe(None)
        pub.fail = True
        ann.observe(("new", "10.1.0.7"))
        assert wait_for(lambda: "down" in ann.error, 5) and pub.writes == []
        pub.fail = False                                 # tried again after the back-off
        assert wait_for(lambda: len(pub.writes) == 1, 5), ann.error
        record = pub.writes[0]
        assert record == Record("10.1.0.7", "new", clock.wall())
        assert wait_for(lambda: seen[-1] == record and ann.last == record, 5)
        assert ann.error == ""
        ann.observe(("new", "10.1.0.7"))                 # published already: no write
    finally:
        ann.close()
    assert pub.writes == [record] and pub.closed and not ann._thread.is_alive()


def test_a_store_that_hangs_never_holds_up_observe_and_the_latest_master_wins():
    """The framework's tick loop calls observe(): a publish() blocked on an unreachable
    store (ZooKeeper, a black-holed Consul agent) must not delay it (finding: each retry
    blocked the loop for up to 5 s); once the store answers, the latest master handed
    over is published, not the ones in between."""
    import time
    pub = FakePublisher()
    pub.gate.clear()
    ann = Announcer(pub, ManualClock(), retry_s=0.05)
    ann.start()
    try:
        ann.observe(("m1", "10.1.0.2"))
        assert wait_for(lambda: len(pub.attempts) == 1, 5)    # blocked in publish(m1)
        slowest = 0.0
        for n in range(2, 6):
            t0 = time.monotonic()
            ann.observe((f"m{n}", f"10.1.0.{n + 1}"))
            slowest = max(slowest, time.monotonic() - t0)
        assert slowest < 0.005, slowest                  # a few ms at most, not the store's
        assert pub.writes == []
        pub.gate.set()
        assert wait_for(lambda: ann.last is not None and ann.last.task_id == "m5", 5)
        assert [r.task_id for r in pub.writes] == ["m1", "m5"]  # the one blocked, the latest
    finally:
        pub.gate.set()
        ann.close()
    assert not ann._thread.is_alive()


def test_close_stops_the_thread_while_the_store_is_down():
    pub = FakePublisher()
    pub.fail = True
    ann = Announcer(pub, ManualClock(), retry_s=30)      # a long back-off: stop cuts it
    ann.start()
    ann.observe(("m", "10.1.0.2"))
    assert wait_for(lambda: "down" in ann.error, 5)
    assert ann.stop() is True and not ann._thread.is_alive()


def test_running_master_is_the_one_the_surplus_kill_keeps():
    """Masters of a dynamic address: the published one is the one book.surplus keeps
    (needs.keep_first: healthy, never away, oldest), never the one it kills."""
    from framework.autoscaler.lifecycle import Phase
    from framework.backends.mesos.book import TaskBook
    from framework.backends.mesos.needs import NeedsResult, TaskRecord
    from framework.model import Role

    def rec(task, phase, ip, healthy, at, role=Role.MASTER, returned=False):
        return TaskRecord(task, role, "dc", phase, at, ip=ip, healthy=healthy,
                          returned=returned)
    assert running_master([rec("a", Phase.STARTING, "10.0.0.1", True, 1)]) is None
    assert running_master([rec("a", Phase.RUNNING, None, True, 1)]) is None
    assert running_master([rec("a", Phase.RUNNING, "10.0.0.1", None, 1)]) is None
    assert running_master([rec("e", Phase.RUNNING, "10.0.0.9", True, 9, Role.EXECUTOR)]) is None
    assert running_master([rec("a", Phase.RUNNING, "10.0.0.1", True, 1),
                           rec("b", Phase.RUNNING, "10.0.0.2", None, 2)]) == ("a", "10.0.0.1")
    assert running_master([rec("a", Phase.RUNNING, "10.0.0.1", None, 1),
                           rec("b", Phase.RUNNING, "10.0.0.2", True, 2)]) == ("b", "10.0.0.2")
    assert running_master([rec("a", Phase.KILLING, "10.0.0.1", True, 1)]) is None
    cases = [
        # two healthy: the oldest (was "the latest" before: the one surplus killed)
        [rec("a", Phase.RUNNING, "10.0.0.1", True, 1), rec("b", Phase.RUNNING, "10.0.0.2",
                                                           True, 2)],
        # the old one came back from a partition after its replacement: the replacement
        [rec("a", Phase.RUNNING, "10.0.0.1", True, 1, returned=True),
         rec("b", Phase.RUNNING, "10.0.0.2", True, 2)],
    ]
    for masters in cases:
        published = running_master(masters)
        book = TaskBook.__new__(TaskBook)           # surplus() needs only records + clock
        book.records = {r.task_id: r for r in masters}
        book._asked, book._leftover_said = {}, set()
        killed = book.surplus(NeedsResult([], central={Role.MASTER: list(masters)}), 0.0)
        kept = [r.task_id for r in masters if r.task_id not in killed]
        assert kept == [published[0]], (kept, published)
    assert running_master(cases[0][:1] + cases[0][1:]) == ("a", "10.0.0.1")
    assert running_master(cases[1]) == ("b", "10.0.0.2")


def test_follower_urls():
    assert follower_url(DiscoverySpec()) == ""
    assert follower_url(DiscoverySpec("zookeeper", "zk://h:2181/a/b")) == "zk://h:2181/a/b"
    assert follower_url(DiscoverySpec("consul", "http://10.0.0.1:8500", "rp-cm")) == \
        "consul+http://10.0.0.1:8500/rp-cm"


def test_records_are_checked():
    with pytest.raises(DiscoveryError, match="not an IP address"):
        Record("central-manager.invalid", "t")
    assert Record("fd00::5", "t").collector == "[fd00::5]:9618?sock=collector"
    with pytest.raises(DiscoveryError, match="x holds no central-manager record"):
        Record.from_json(b'{"collector": 1}', "x")
