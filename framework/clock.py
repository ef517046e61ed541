"""Injected time: policy code asks a clock, never ``time.time()`` (seconds, monotonic)."""
from __future__ import annotations

import abc
import threading
import time


class Clock(abc.ABC):
    @abc.abstractmethod
    def now(self) -> float:
        """Seconds since an arbitrary, fixed origin (monotonic)."""

    def wall(self) -> float:
        """Seconds since the epoch for timestamps shown to people."""
        return time.time()


class WallClock(Clock):
    def now(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock tests move by hand (thread-safe)."""

    def __init__(self, start: float = 0.0):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now()

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
