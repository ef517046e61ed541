"""Leader election of emulated masters through a real ZooKeeper, as Mesos masters do.

Each master creates an ephemeral sequential znode ``<path>/json.info_<10 digits>`` whose
data is its MasterInfo JSON; the lowest sequence leads. When the leader's session ends
(it stopped), its znode vanishes and the next master takes over.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError

from ...mesos.detector import leader_child, master_address, parse_zk_url

log = logging.getLogger(__name__)
PREFIX = "json.info_"


class ZkContender:
    """Registers one master and reports ``on_change(is_leader, leader_address | None)``."""

    def __init__(self, url: str, master_info: dict[str, Any],
                 on_change: Callable[[bool, str | None], None], session_timeout_s: float = 10.0):
        self.hosts, self.path = parse_zk_url(url)
        self._info = master_info
        self._on_change = on_change
        self._zk = KazooClient(hosts=self.hosts, timeout=session_timeout_s)
        self._lock = threading.Lock()
        self._stopped = False
        self.node: str | None = None          # our znode's full path
        self._last: tuple[bool, str | None] | None = None
        self._lost = False

    def start(self, timeout_s: float = 15.0) -> None:
        self._zk.start(timeout=timeout_s)
        self._zk.add_listener(self._state)
        self._register()
        self._zk.ChildrenWatch(self.path, self._children)

    def stop(self) -> None:
        """Leave the election (our znode is deleted with the session)."""
        with self._lock:
            self._stopped = True
        try:
            self._zk.stop()
            self._zk.close()
        except KazooException:
            pass

    def _register(self) -> None:
        self._zk.ensure_path(self.path)
        data = json.dumps(self._info).encode("utf-8")
        self.node = self._zk.create(f"{self.path}/{PREFIX}", data, ephemeral=True, sequence=True)
        log.info("master %s registered as %s", self._info.get("pid"), self.node)

    def _state(self, state: str) -> None:
        """Session lost (our znode is gone): step down; re-register once reconnected."""
        if self._stopped:
            return
        if state == KazooState.LOST:
            log.warning("ZooKeeper session lost: stepping down until reconnected")
            self._lost = True
            self._report(False, None)
        elif state == KazooState.CONNECTED and self._lost:
            self._lost = False
            self._zk.handler.spawn(self._reregister)

    def _reregister(self) -> None:
        try:
            self._register()
            self._children(self._zk.get_children(self.path))
        except KazooException as exc:
            log.error("could not re-register with ZooKeeper: %s", exc)

    def _children(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        child = leader_child(children)
        if child is None or self.node is None:
            self._report(False, None)
            return True
        if f"{self.path}/{child}" == self.node:
            self._report(True, f"{self._info['address']['ip']}:{self._info['address']['port']}")
            return True
        try:
            data, _ = self._zk.get(f"{self.path}/{child}")
            address = master_address(json.loads(data.decode("utf-8")))
        except NoNodeError:
            return True     # gone meanwhile: the watch fires again
        except (ValueError, UnicodeDecodeError) as exc:
            log.error("unreadable MasterInfo in %s/%s: %s", self.path, child, exc)
            address = None
        self._report(False, address)
        return True

    def _report(self, leader: bool, address: str | None) -> None:
        with self._lock:
            if self._stopped or self._last == (leader, address):
                return
            self._last = (leader, address)
        self._on_change(leader, address)
