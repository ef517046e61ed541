"""A minimal ZooKeeper client for the role containers: connect, getData, close.

The role images carry no kazoo (and must not need the framework), and the follower only
ever reads one znode, so this speaks the few messages it needs of ZooKeeper's jute wire
protocol itself (apache/zookeeper ``zookeeper-jute/src/main/resources/zookeeper.jute``;
framing, xids and op codes as in ``ClientCnxn`` and ``ZooDefs.OpCode``):

- every message is a 4-byte big-endian length, then the record;
- ``ConnectRequest{int protocolVersion; long lastZxidSeen; int timeOut; long sessionId;
  buffer passwd}`` (+ ``bool readOnly``), answered by ``ConnectResponse{int
  protocolVersion; int timeOut; long sessionId; buffer passwd}`` (+ ``bool readOnly``); a
  negotiated timeOut of 0 means the session was refused;
- ``RequestHeader{int xid; int type}`` + ``GetDataRequest{ustring path; bool watch}``
  (type 4, getData), answered by ``ReplyHeader{int xid; long zxid; int err}`` +
  ``GetDataResponse{buffer data; Stat stat}``; err -101 is NONODE; xid -2 answers a ping,
  xid -1 is a watch notification (neither is asked for here, both are skipped);
- ``RequestHeader{xid, -11}``: closeSession.

Strings are a 4-byte length then UTF-8; a buffer of length -1 is null. The session stays
open between reads (each read also keeps it alive); any error closes it, and the next
read connects again, to the next host of the list.
"""

from __future__ import annotations

import socket
import struct
from typing import List, Optional, Tuple

OP_GET_DATA, OP_CLOSE = 4, -11
XID_PING, XID_WATCH = -2, -1
ERR_NONODE = -101
SESSION_TIMEOUT_MS = 10000
MAX_FRAME = 4 * 1024 * 1024


class ZkReadError(Exception):
    """ZooKeeper could not be read (no server answered, the session was refused, …)."""


def parse_hosts(hosts: str) -> List[Tuple[str, int]]:
    """``h1:2181,[::1]:2181,h3`` → [(host, port), …] (port 2181 when none)."""
    out = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":") or "2181"
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, "2181"
        if not port.isdigit():
            raise ZkReadError("bad ZooKeeper host %r" % item)
        out.append((host, int(port)))
    if not out:
        raise ZkReadError("no ZooKeeper hosts in %r" % hosts)
    return out


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


class ZooKeeperReader:
    """Reads znodes from the ensemble ``hosts`` (``h1:2181,h2:2181``)."""

    def __init__(self, hosts: str, timeout_s: float = 5.0,
                 session_timeout_ms: int = SESSION_TIMEOUT_MS) -> None:
        self.hosts = parse_hosts(hosts)
        self.timeout_s, self.session_timeout_ms = timeout_s, session_timeout_ms
        self._sock: Optional[socket.socket] = None
        self._xid = 0
        self._next = 0

    # -- framing ----------------------------------------------------------------------------
    def _send(self, payload: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _exactly(self, n: int) -> bytes:
        assert self._sock is not None
        chunks, got = [], 0
        while got < n:
            chunk = self._sock.recv(n - got)
            if not chunk:
                raise ZkReadError("ZooKeeper closed the connection")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _frame(self) -> bytes:
        (length,) = struct.unpack(">i", self._exactly(4))
        if length < 0 or length > MAX_FRAME:
            raise ZkReadError("bad ZooKeeper frame length %d" % length)
        return self._exactly(length)

    # -- session ----------------------------------------------------------------------------
    def _connect(self) -> None:
        errors = []
        for _ in range(len(self.hosts)):
            host, port = self.hosts[self._next % len(self.hosts)]
            self._next += 1
            try:
                self._sock = socket.create_connection((host, port), self.timeout_s)
                self._sock.settimeout(self.timeout_s)
                self._send(struct.pack(">iqiqi", 0, 0, self.session_timeout_ms, 0, 16)
                           + b"\0" * 16 + b"\0")
                reply = self._frame()
                _version, negotiated = struct.unpack(">ii", reply[:8])
                if negotiated <= 0:
                    raise ZkReadError("session refused")
                self._xid = 0
                return
            except (OSError, ZkReadError, struct.error) as exc:
                errors.append("%s:%d: %s" % (host, port, exc))
                self._drop()
        raise ZkReadError("no ZooKeeper server answered (%s)" % "; ".join(errors))

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def get(self, path: str) -> Optional[bytes]:
        """The data of znode ``path`` (b"" when empty), None when it does not exist."""
        if self._sock is None:
            self._connect()
        try:
            self._xid += 1
            xid = self._xid
            self._send(struct.pack(">ii", xid, OP_GET_DATA) + _string(path) + b"\0")
            while True:
                frame = self._frame()
                rxid, _zxid, err = struct.unpack(">iqi", frame[:16])
                if rxid in (XID_PING, XID_WATCH):
                    continue
                if rxid != xid:
                    raise ZkReadError("ZooKeeper answered xid %d, asked %d" % (rxid, xid))
                break
            if err == ERR_NONODE:
                return None
            if err != 0:
                raise ZkReadError("ZooKeeper getData %s: error code %d" % (path, err))
            (length,) = struct.unpack(">i", frame[16:20])
            return b"" if length < 0 else frame[20:20 + length]
        except (OSError, struct.error, ZkReadError) as exc:
            self._drop()
            if isinstance(exc, ZkReadError):
                raise
            raise ZkReadError("ZooKeeper read of %s failed: %s" % (path, exc)) from None

    def close(self) -> None:
        """End the session politely (closeSession), then the connection."""
        if self._sock is not None:
            try:
                self._xid += 1
                self._send(struct.pack(">ii", self._xid, OP_CLOSE))
            except OSError:
                pass
            self._drop()
