"""Leading Mesos master from ZooKeeper: the lowest ``json.info_<seq>`` child of the path.

Each master holds an ephemeral sequential znode whose data is MasterInfo JSON; the one
with the lowest sequence leads. ``zk://h1:2181,h2:2181/mesos`` names hosts and path.
"""
from __future__ import annotations

import json
import logging
import socket
import struct
import threading
from typing import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

log = logging.getLogger(__name__)
PREFIX = "json.info_"


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://h1:2181,h2:2181/mesos`` → (``h1:2181,h2:2181``, ``/mesos``)."""
    if not url.startswith("zk://"):
        raise ValueError(f"not a zk:// URL: {url!r}")
    rest = url[len("zk://"):]
    hosts, _, path = rest.partition("/")
    if not hosts or not path:
        raise ValueError(f"zk URL needs hosts and a path: {url!r}")
    return hosts, "/" + path.rstrip("/")


def master_address(info: dict) -> str:
    """``host:port`` of a MasterInfo (``address`` first, else the uint32 ``ip``)."""
    addr = info.get("address") or {}
    port = addr.get("port") or info.get("port")
    host = addr.get("ip") or addr.get("hostname")
    if not host and isinstance(info.get("ip"), int):
        host = socket.inet_ntoa(struct.pack("<I", info["ip"]))  # Mesos stores it little-endian
    if not host or not port:
        raise ValueError(f"MasterInfo without address: {info!r:.200}")
    return f"{host}:{int(port)}"


def leader_child(children: list[str]) -> str | None:
    contenders = [c for c in children if c.startswith(PREFIX) and c[len(PREFIX):].isdigit()]
    return min(contenders, key=lambda c: int(c[len(PREFIX):])) if contenders else None


_UNSEEN = object()


class LeaderDetector:
    """Calls ``on_leader(address | None)`` with what it first sees (None: no master has
    registered), then whenever the leading master changes."""

    def __init__(self, url: str, on_leader: Callable[[str | None], None],
                 client: KazooClient | None = None):
        self.hosts, self.path = parse_zk_url(url)
        self._on_leader = on_leader
        self._zk = client or KazooClient(hosts=self.hosts, timeout=10)
        self._leader: object = _UNSEEN
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        self._zk.start(timeout=30)
        self._zk.ensure_path(self.path)
        self._zk.ChildrenWatch(self.path, self._children)

    def stop(self) -> None:
        self._stopped = True
        try:
            self._zk.stop()
            self._zk.close()
        except KazooException:
            pass

    def _retry(self) -> None:
        try:
            self._children(self._zk.get_children(self.path))
        except KazooException as exc:
            log.warning("cannot list %s (%s): retrying", self.path, exc)
            timer = threading.Timer(1.0, self._retry)
            timer.daemon = True
            timer.start()

    def _children(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        address = None
        child = leader_child(children)
        if child is not None:
            try:
                data, _ = self._zk.get(f"{self.path}/{child}")
                address = master_address(json.loads(data.decode("utf-8")))
            except NoNodeError:
                return True  # vanished meanwhile; the next change fires the watch again
            except KazooException as exc:
                # kazoo has already recorded these children: this change would never be
                # replayed. Look again shortly.
                log.warning("cannot read %s/%s (%s): retrying", self.path, child, exc)
                timer = threading.Timer(1.0, self._retry)
                timer.daemon = True
                timer.start()
                return True
            except (ValueError, UnicodeDecodeError) as exc:
                log.error("unreadable MasterInfo in %s/%s: %s", self.path, child, exc)
        with self._lock:
            changed, self._leader = address != self._leader, address
        if changed:
            self._on_leader(address)
        return True
