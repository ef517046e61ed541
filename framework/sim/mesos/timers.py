"""One timer thread on an injected clock: everything the emulator does later runs here.

Deadlines are in the clock's seconds (``clock.now()``). With a :class:`WallClock` the
thread sleeps exactly until the next deadline; with any other clock (e.g. a
:class:`ManualClock` a test advances) it re-reads the clock at least every
``poll_s`` wall seconds, and :meth:`TimerService.poke` wakes it at once.

Callbacks run one at a time on the timer thread, outside the service's lock, so they may
schedule or cancel timers themselves. A callback that raises is logged and forgotten.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Callable

from ...clock import Clock, WallClock

log = logging.getLogger(__name__)


class Timer:
    """Handle of a scheduled call; :meth:`cancel` is idempotent and thread-safe."""

    __slots__ = ("due", "fn", "cancelled")

    def __init__(self, due: float, fn: Callable[[], None]):
        self.due = due
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerService:
    """A heap of deadlines served by one daemon thread (started lazily)."""

    def __init__(self, clock: Clock | None = None, name: str = "sim-timers",
                 poll_s: float = 0.01):
        self.clock: Clock = clock or WallClock()
        self._exact = isinstance(self.clock, WallClock)
        self._poll_s = poll_s
        self._name = name
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def now(self) -> float:
        """The clock's current time (seconds)."""
        return self.clock.now()

    def call_at(self, due: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` once the clock reads ``due`` seconds or later."""
        timer = Timer(due, fn)
        with self._cond:
            if self._closed:
                timer.cancelled = True
                return timer
            heapq.heappush(self._heap, (due, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if self._heap[0][2] is timer:
                self._cond.notify()
        return timer

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` after ``delay_s`` clock seconds."""
        return self.call_at(self.now() + max(0.0, delay_s), fn)

    def every(self, interval_s: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` every ``interval_s`` clock seconds until the returned handle is cancelled."""
        handle = Timer(self.now() + interval_s, fn)

        def tick() -> None:
            if handle.cancelled:
                return
            try:
                fn()
            finally:
                if not handle.cancelled:
                    inner = self.call_later(interval_s, tick)
                    if inner.cancelled:
                        handle.cancelled = True

        self.call_later(interval_s, tick)
        return handle

    def poke(self) -> None:
        """Re-read the clock now (after a test advanced a manual clock)."""
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        """Drop every pending timer and stop the thread (idempotent)."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def pending(self) -> int:
        """How many timers are scheduled (cancelled ones included until they come due)."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = self.clock.now()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, timer = heapq.heappop(self._heap)
                        break
                    if self._heap:
                        wait = self._heap[0][0] - now
                        if not self._exact:
                            wait = min(wait, self._poll_s)
                    else:
                        wait = None
                    self._cond.wait(wait)
            if timer.cancelled:
                continue
            try:
                timer.fn()
            except Exception:  # noqa: BLE001 - one bad callback must not stop the thread
                log.exception("timer callback %r failed", timer.fn)
