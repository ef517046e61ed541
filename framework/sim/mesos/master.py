"""EmulatedMaster: one strict Mesos master over a shared :class:`SimCluster`, real HTTP.

Leadership, one of:
- ``zk="zk://127.0.0.1:2181/mesos"``: elected through ZooKeeper (lowest ``json.info_``);
- ``redirect_to="host:port"``: a follower answering 307 towards that leader
  (``redirect_to=""``: a follower that knows no leader → 503);
- neither: the leader from :meth:`start` on.

Usage::

    master = EmulatedMaster(cluster, heartbeat_s=0.2).start()
    ... requests.post(master.url + "/api/v1/scheduler", ...) ...
    master.stop()
"""
from __future__ import annotations

import logging
import threading
import uuid
import socket
from typing import Any, BinaryIO

from ...mesos.protocol import DEFAULT_HEARTBEAT_S, ip_to_uint32
from .cluster import SimCluster
from .httpapi import VERSION, MasterHTTPServer
from .stream import EventStream
from .zk import ZkContender

log = logging.getLogger(__name__)


class EmulatedMaster:
    """A Mesos master on ``host:port`` (port 0: a free one) serving ``cluster``.

    ``heartbeat_s``: HEARTBEAT period (clock seconds); ``credentials``: principal → secret
    for HTTP basic auth (None: no authentication); ``recovery_s``: clock seconds after
    election during which calls get 503; ``hostname``: advertised in MasterInfo.
    """

    def __init__(self, cluster: SimCluster, host: str = "127.0.0.1", port: int = 0,
                 heartbeat_s: float = DEFAULT_HEARTBEAT_S, zk: str | None = None,
                 redirect_to: str | None = None, credentials: dict[str, str] | None = None,
                 recovery_s: float = 0.0, hostname: str | None = None):
        self.cluster = cluster
        self.heartbeat_s = heartbeat_s
        self.credentials = dict(credentials) if credentials else None
        self.recovery_s = recovery_s
        self.lock = threading.RLock()
        self.id = str(uuid.UUID(int=cluster.rng.getrandbits(128), version=4))
        self._host, self._port, self._hostname = host, port, hostname
        self._zk_url, self._redirect_to = zk, redirect_to
        self._server: MasterHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._contender: ZkContender | None = None
        self._leader = False
        self._leader_addr: str | None = None
        self._recovered_at = 0.0
        self._forced_recovering = False
        self._stall = threading.Event()
        self._stopping = False
        self.streams: set[EventStream] = set()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> "EmulatedMaster":
        self._server = MasterHTTPServer((self._host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mesos-master-{self._port}", daemon=True)
        self._thread.start()
        if self._zk_url:
            self._contender = ZkContender(self._zk_url, self.master_info(), self._elected)
            self._contender.start()
        elif self._redirect_to is not None:
            self._elected(False, self._redirect_to or None)
        else:
            self._elected(True, self.address)
        return self

    def stop(self) -> None:
        """Stop as a crashed master would: streams cut, ZooKeeper node gone, port closed."""
        self.crash()
        self.expire()

    def expire(self) -> None:
        """Its ZooKeeper session ends: its node goes, and another master can lead."""
        if self._contender is not None:
            self._contender.stop()

    def crash(self) -> None:
        """The process dies, its ZooKeeper session not yet expired (Mesos' is 10 s): streams
        cut, port closed, its node still names it the leader until :meth:`expire`."""
        with self.lock:
            if self._stopping:
                return
            self._stopping = True
            was_leader, self._leader, self._leader_addr = self._leader, False, None
        if was_leader:
            self.cluster.leader_gone(self)
        self.drop_streams()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.cut_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> "EmulatedMaster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _elected(self, leader: bool, address: str | None) -> None:
        with self.lock:
            if self._stopping:
                return
            was_leader = self._leader
            self._leader, self._leader_addr = leader, address
            if leader and not was_leader:
                self._recovered_at = self.cluster.now() + self.recovery_s
        if leader and not was_leader:
            self.cluster.set_leader(self)
        elif was_leader and not leader:
            self.cluster.leader_gone(self)
            self.drop_streams()

    # -- identity ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def recovering(self) -> bool:
        return self._forced_recovering or self.cluster.now() < self._recovered_at

    @property
    def stalled(self) -> bool:
        return self._stall.is_set()

    def leader_address(self) -> str | None:
        """``host:port`` of the leading master as this master knows it (None: unknown)."""
        with self.lock:
            return self.address if self._leader else self._leader_addr

    def master_info(self) -> dict[str, Any]:
        """MasterInfo as Mesos writes it to ZooKeeper and into SUBSCRIBED."""
        hostname = self._hostname or self._host
        info: dict[str, Any] = {
            "id": self.id, "ip": ip_to_uint32(socket.gethostbyname(self._host)), "port": self._port,
            "pid": f"master@{self._host}:{self._port}", "hostname": hostname, "version": VERSION,
            "address": {"hostname": hostname, "ip": self._host, "port": self._port}}
        if self.cluster.region is not None:
            info["domain"] = {"fault_domain": {"region": {"name": self.cluster.region},
                                               "zone": {"name": f"{self.cluster.region}-master"}}}
        return info

    def state_json(self) -> dict[str, Any]:
        state = self.cluster.state_json()
        state.update({"version": VERSION, "id": self.id, "pid": f"master@{self.address}",
                      "hostname": self._hostname or self._host,
                      "leader": f"master@{self.leader_address()}" if self.leader_address() else None,
                      "elected_time": self._recovered_at - self.recovery_s})
        return state

    # -- streams -------------------------------------------------------------------------

    def open_stream(self, sock: socket.socket, wfile: BinaryIO) -> EventStream:
        stream = EventStream(self, sock, wfile, self.cluster.new_id("stream"), self.heartbeat_s,
                             self.cluster.stream_seed(), self.cluster.timers)
        with self.lock:
            self.streams.add(stream)
        return stream

    def stream_ended(self, stream: EventStream) -> None:
        with self.lock:
            self.streams.discard(stream)
        self.cluster.stream_closed(stream)

    # -- fault injection -----------------------------------------------------------------

    def drop_streams(self) -> int:
        """Cut every subscriber stream abruptly (no final chunk); how many were cut."""
        with self.lock:
            streams = list(self.streams)
        for stream in streams:
            stream.drop()
        for stream in streams:
            stream.finished.wait(5.0)
        return len(streams)

    def stall(self) -> None:
        """Keep streams open but write nothing, not even heartbeats, until :meth:`resume`."""
        self._stall.set()

    def resume(self) -> None:
        """End a :meth:`stall`: queued events flow again, heartbeats restart."""
        self._stall.clear()
        with self.lock:
            streams = list(self.streams)
        for stream in streams:
            stream.wake()

    def set_recovering(self, recovering: bool) -> None:
        """While recovering, the scheduler endpoint answers 503."""
        self._forced_recovering = recovering

    def send_raw(self, framework_id: str, event: dict[str, Any] | bytes, framed: bool = True) -> bool:
        """See :meth:`SimCluster.send_raw`."""
        return self.cluster.send_raw(framework_id, event, framed)
