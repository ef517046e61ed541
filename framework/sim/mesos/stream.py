"""One SUBSCRIBE response: the chunked RecordIO event stream of one framework.

Events are queued by any thread (:meth:`EventStream.send`) and written by the HTTP
handler's thread (:meth:`EventStream.run`). Whatever is queued when the writer wakes is
written as one byte string cut at 0–3 random (seeded) points into HTTP chunks, so a record
may span chunks and one chunk may hold several records — as on a real master. HEARTBEAT
events come every ``heartbeat_s`` clock seconds. While the master is stalled nothing is
written, not even heartbeats (events wait in the queue).
"""
from __future__ import annotations

import collections
import logging
import random
import select
import socket
import threading
from typing import Any, BinaryIO

from ...mesos.protocol import encode_record
from .timers import Timer, TimerService

log = logging.getLogger(__name__)
HEARTBEAT = encode_record({"type": "HEARTBEAT"})
POLL_S = 0.1     # wall seconds between checks that the client is still there


class EventStream:
    """The writer side of one subscription (see the module docstring)."""

    def __init__(self, master: Any, sock: socket.socket, wfile: BinaryIO, stream_id: str,
                 heartbeat_s: float, seed: int, timers: TimerService):
        self.master = master
        self.stream_id = stream_id
        self.framework_id: str | None = None
        self._sock, self._wfile = sock, wfile
        self._heartbeat_s = heartbeat_s
        self._timers = timers
        self._rng = random.Random(seed)
        self._queue: collections.deque[dict[str, Any] | bytes] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._dropped = False
        self.finished = threading.Event()
        self._heartbeat_timer: Timer | None = None
        self.chunks_written = 0

    # -- any thread ----------------------------------------------------------------------

    def send(self, event: dict[str, Any] | bytes, framed: bool = True) -> None:
        """Queue an event (dict → one RecordIO record, encoded by the writer, so the dict
        must not change afterwards; bytes → one record, or raw if not ``framed``)."""
        data: dict[str, Any] | bytes
        if isinstance(event, dict):
            data = event
        elif framed:
            data = str(len(event)).encode("ascii") + b"\n" + bytes(event)
        else:
            data = bytes(event)
        with self._cond:
            if self._closing or self._dropped:
                return
            self._queue.append(data)
            self._cond.notify()

    def close(self, error: str | None = None) -> None:
        """End the stream cleanly after what is queued (optionally an ERROR event first)."""
        if error is not None:
            self.send({"type": "ERROR", "error": {"message": error}})
        with self._cond:
            self._closing = True
            self._cond.notify()

    def drop(self) -> None:
        """Cut the connection abruptly: no terminating chunk, queued events lost."""
        with self._cond:
            self._dropped = True
            self._cond.notify()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def start_heartbeats(self) -> None:
        """One HEARTBEAT now and one every ``heartbeat_s`` (Mesos starts them right after
        SUBSCRIBED)."""
        with self._cond:
            if self._heartbeat_timer is not None:
                return
            self._heartbeat_timer = self._timers.every(self._heartbeat_s, self._heartbeat)
        self._heartbeat()

    def wake(self) -> None:
        """Re-check the master's stall flag now."""
        with self._cond:
            self._cond.notify()

    # -- the handler's thread ------------------------------------------------------------

    def run(self) -> None:
        """Write events until closed, dropped, or the client goes away."""
        try:
            self._loop()
        except OSError as exc:       # the client went away mid-write
            log.debug("stream %s: write failed: %s", self.stream_id, exc)
        finally:
            with self._cond:
                self._dropped = True
                self._queue.clear()
                if self._heartbeat_timer is not None:
                    self._heartbeat_timer.cancel()
            self.finished.set()
            self.master.stream_ended(self)

    def _heartbeat(self) -> None:
        if not self.master.stalled:
            with self._cond:
                if not (self._closing or self._dropped):
                    self._queue.append(HEARTBEAT)
                    self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                stalled = self.master.stalled
                if not self._dropped and (stalled or not self._queue) and not self._closing:
                    self._cond.wait(POLL_S)
                    stalled = self.master.stalled
                if self._dropped:
                    return
                batch: list[dict[str, Any] | bytes] = []
                if not stalled:
                    batch = list(self._queue)
                    self._queue.clear()
                closing = self._closing
            if batch:
                self._write(b"".join(b if isinstance(b, bytes) else encode_record(b) for b in batch))
            if closing:
                if not stalled:
                    self._wfile.write(b"0\r\n\r\n")
                    self._wfile.flush()
                return
            if self._peer_closed():
                return

    def _write(self, data: bytes) -> None:
        cuts: list[int] = []
        if len(data) > 1:
            count = self._rng.choice((0, 1, 1, 2, 3))
            cuts = sorted({self._rng.randrange(1, len(data)) for _ in range(count)})
        start = 0
        for end in cuts + [len(data)]:
            piece = data[start:end]
            self._wfile.write(b"%X\r\n" % len(piece) + piece + b"\r\n")
            self.chunks_written += 1
            start = end
        self._wfile.flush()

    def _peer_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            data = self._sock.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if not data:
                return True
            self._sock.recv(len(data))     # a client should not send on the stream: discard
            return False
        except BlockingIOError:
            return False
        except OSError:
            return True

