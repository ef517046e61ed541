"""Publishing in ZooKeeper: one persistent znode holding the record's JSON.

Persistent, not ephemeral: the record must outlive the framework (a restarted or failed-
over framework finds it, and the daemons keep following it while no framework runs).
Written only when the address or task changed (:meth:`Record.same_place`), so a restarted
framework that finds the master where the znode says writes nothing. The role containers
read it with their own small client (executors/htcmesos_role/zkread.py).
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import DiscoveryError, DiscoveryUnavailable
from ..specnetwork import parse_zk_url
from .base import Publisher, Record

#: seconds to connect, and for each request
ZK_TIMEOUT_S = 5.0


def _kazoo(hosts: str, timeout_s: float) -> Any:
    from kazoo.client import KazooClient
    return KazooClient(hosts=hosts, timeout=timeout_s)


class ZooKeeperPublisher(Publisher):
    """The record in the znode of ``url`` (``zk://h1:2181,h2:2181/path``)."""

    def __init__(self, url: str, timeout_s: float = ZK_TIMEOUT_S,
                 client_factory: Callable[[str, float], Any] = _kazoo) -> None:
        try:
            self.hosts, self.path = parse_zk_url(url)
        except ValueError as exc:
            raise DiscoveryError(f"discovery: {exc}") from None
        self.where, self.timeout_s = url, timeout_s
        self._factory = client_factory
        self._zk: Any = None

    def _client(self) -> Any:
        if self._zk is None:
            zk = self._factory(self.hosts, self.timeout_s)
            try:
                zk.start(timeout=self.timeout_s)
            except Exception as exc:  # kazoo's timeout, refused connections
                try:
                    zk.stop()
                    zk.close()
                except Exception:  # noqa: BLE001 - never started
                    pass
                raise DiscoveryUnavailable(f"ZooKeeper at {self.hosts} not reachable: "
                                           f"{exc or type(exc).__name__}") from None
            self._zk = zk
        return self._zk

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        from kazoo.exceptions import KazooException, NoNodeError, ZookeeperError
        zk = self._client()
        try:
            return fn(zk)
        except NoNodeError:
            return None
        except (KazooException, ZookeeperError, TimeoutError) as exc:
            raise DiscoveryUnavailable(f"ZooKeeper {what} {self.path} at {self.hosts}: "
                                       f"{type(exc).__name__} {exc}".rstrip()) from None

    def current(self) -> Record | None:
        got = self._call("read", lambda zk: zk.get(self.path))
        if got is None or not got[0]:
            return None
        return Record.from_json(got[0], self.where)

    def publish(self, record: Record) -> bool:
        try:
            old = self.current()
        except DiscoveryError as exc:
            if isinstance(exc, DiscoveryUnavailable):
                raise
            old = None                   # garbage in the znode: overwrite it
        if record.same_place(old):
            return False
        data = record.to_json()

        def write(zk: Any) -> None:
            from kazoo.exceptions import NodeExistsError
            if zk.exists(self.path) is None:
                try:
                    zk.create(self.path, data, makepath=True)
                    return
                except NodeExistsError:  # another writer created it meanwhile
                    pass
            zk.set(self.path, data)
        self._call("write", write)
        return True

    def close(self) -> None:
        if self._zk is not None:
            try:
                self._zk.stop()
                self._zk.close()
            finally:
                self._zk = None
