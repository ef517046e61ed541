"""Talk to the HTCondor bindings worker (:mod:`framework.condor.worker`) in a child process.

One request at a time (a lock), each with a deadline: a late answer kills the worker, the
next request starts a fresh one. Every failure is a :class:`CondorError` naming what went
wrong; nothing here blocks the caller's process on the network (only on a pipe).
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

from ..errors import HtcmesosError


class CondorError(HtcmesosError):
    """The worker could not do what was asked (timeout, HTCondor error, crash)."""


class CondorWorker:
    """The worker process, started on first use with ``env`` (``_CONDOR_*`` settings)."""

    def __init__(self, env: dict[str, str], timeout_s: float = 20.0) -> None:
        self.env = {**os.environ, "CONDOR_CONFIG": "ONLY_ENV", **env}
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def call(self, request: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send one request; its answer, or :class:`CondorError`."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        with self._lock:
            proc = self._start()
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = self._read_line(proc, deadline)
            except (OSError, ValueError) as exc:
                self._stop()
                raise CondorError(f"{request.get('op')}: the worker failed: {exc}") from None
        try:
            answer = json.loads(line)
        except ValueError:
            raise CondorError(f"{request.get('op')}: bad answer {line[:200]!r}") from None
        if not answer.get("ok"):
            raise CondorError(f"{request.get('op')}: {answer.get('error')}")
        return answer

    def _read_line(self, proc: subprocess.Popen, deadline: float) -> str:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._stop()
                raise CondorError(f"no answer within the deadline ({self.timeout_s:g} s); "
                                  f"the worker was restarted")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                self._stop()
                raise CondorError("the worker exited")
            chunks.append(data)
            if data.endswith(b"\n"):
                return b"".join(chunks).decode("utf-8", "replace").strip()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "framework.condor.worker"], env=self.env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1, start_new_session=True)
        return self._proc

    def _stop(self) -> None:
        if self._proc is not None:
            try:
                self._proc.kill()
                self._proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop()
