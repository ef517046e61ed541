"""The event bus behind ``GET /v2/events`` (Server-Sent Events).

As upstream ``core/event/impl/stream/HttpEventStreamServlet.scala`` and
``HttpEventStreamActor.scala``: each subscriber gets ``event: <type>\\ndata: <json>\\n\\n``
frames, optionally filtered by ``event_type``; ``event_stream_attached`` first. A
subscriber whose bounded queue overflows (``--event_stream_max_outstanding_messages``) is
cut off.
"""
from __future__ import annotations

import json
import queue
import threading
from typing import Any, Callable

MAX_OUTSTANDING = 1000
CLOSED = object()


class Subscriber:
    """One connected event stream: a bounded queue of encoded frames."""

    def __init__(self, types: frozenset[str], remote: str, max_outstanding: int):
        self.types = types
        self.remote = remote
        self.queue: queue.Queue[Any] = queue.Queue(max_outstanding)
        self.closed = threading.Event()

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and closed) when the subscriber is too slow."""
        try:
            self.queue.put_nowait(frame)
            return True
        except queue.Full:
            self.close()
            return False

    def close(self) -> None:
        self.closed.set()
        try:
            self.queue.put_nowait(CLOSED)
        except queue.Full:
            pass   # the reader sees ``closed`` on its next poll


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event_type}\ndata: {json.dumps(payload)}\n\n".encode()


class EventHub:
    """Publish events to every subscriber (thread-safe)."""

    def __init__(self, timestamp: Callable[[], str], max_outstanding: int = MAX_OUTSTANDING):
        self._timestamp = timestamp
        self._max = max_outstanding
        self._lock = threading.Lock()
        self._subs: list[Subscriber] = []
        self.published: list[dict[str, Any]] = []   # every event, for tests (bounded)

    def subscribe(self, types: frozenset[str], remote: str) -> Subscriber:
        sub = Subscriber(types, remote, self._max)
        with self._lock:
            self._subs.append(sub)
        self.publish("event_stream_attached", {"remoteAddress": remote})
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        sub.close()
        self.publish("event_stream_detached", {"remoteAddress": sub.remote})

    def publish(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        event = dict(payload)
        event.setdefault("eventType", event_type)
        event.setdefault("timestamp", self._timestamp())
        data = frame(event_type, event)
        with self._lock:
            self.published.append(event)
            if len(self.published) > 10000:
                del self.published[:5000]
            subs = list(self._subs)
        for sub in subs:
            if sub.wants(event_type) and not sub.offer(data):
                with self._lock:
                    if sub in self._subs:
                        self._subs.remove(sub)
        return event

    def close(self) -> None:
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            sub.close()

    def count(self) -> int:
        with self._lock:
            return len(self._subs)
