"""The real-service fixtures of tests/services.py: ZooKeeper, etcd, Docker, tiny image."""
from __future__ import annotations

import json
import urllib.request

import pytest

from framework.sim.images import build_test_image
from tests.services import four_letter_word


@pytest.mark.zookeeper
def test_zookeeper_answers_ruok_and_kazoo_can_write(zookeeper):
    assert four_letter_word("127.0.0.1", zookeeper.port, "ruok") == "imok"
    assert zookeeper.url("/mesos") == f"zk://{zookeeper.hosts}/mesos"
    assert zookeeper.hosts.startswith("127.0.0.1:")
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=zookeeper.hosts, timeout=10)
    zk.start(timeout=15)
    try:
        zk.ensure_path("/htcm-test")
        zk.set("/htcm-test", b"v1")
        assert zk.get("/htcm-test")[0] == b"v1"
    finally:
        zk.stop()
        zk.close()


@pytest.mark.zookeeper
def test_zookeeper_stop_and_start_keep_the_data(zookeeper):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=zookeeper.hosts, timeout=10)
    zk.start(timeout=15)
    zk.ensure_path("/htcm-restart")
    zk.stop()
    zk.close()
    zookeeper.stop()
    assert not zookeeper.ruok()
    zookeeper.start()
    assert zookeeper.ruok()
    zk = KazooClient(hosts=zookeeper.hosts, timeout=10)
    zk.start(timeout=15)
    try:
        assert zk.exists("/htcm-restart") is not None
    finally:
        zk.stop()
        zk.close()


def test_etcd_health_is_healthy(etcd):
    assert etcd.url.startswith("http://127.0.0.1:")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(etcd.url + "/health", timeout=5) as resp:
        assert json.loads(resp.read())["health"] == "true"


@pytest.mark.docker
def test_docker_engine_answers_and_tiny_image_is_idempotent(docker_engine, tiny_image):
    assert docker_engine.ping()
    image = docker_engine.images.get(tiny_image)
    assert build_test_image(docker_engine, tiny_image) == image.id   # reused, not rebuilt
    assert docker_engine.images.get(tiny_image).attrs["Created"] == image.attrs["Created"]
    out = docker_engine.containers.run(
        tiny_image, ["python3", "-c", "print('hi from', __import__('sys').version_info[:2])"],
        volumes={"/usr": {"bind": "/usr", "mode": "ro"}}, remove=True)
    assert out.startswith(b"hi from")
