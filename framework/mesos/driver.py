"""pymesos' scheduler driver, wrapped where it falls short (never forked).

pymesos has spoken to real masters for years; these are the gaps it leaves:

- no heartbeat watchdog: a silent stream is never noticed → we resubscribe after
  ``heartbeat_factor`` × the master's heartbeat interval without any event;
- a 503 (no leader, recovering) reconnects at once in a hot loop → exponential back-off;
- a 4xx on SUBSCRIBE or a malformed record raises in the IO thread, which then aborts and
  interrupts the main thread → logged, reported to the scheduler, retried with back-off;
- an exception in an event handler (malformed or unexpected event) does the same → logged
  and survived; the event is dropped;
- calls answer ``RuntimeError`` for every status → :mod:`framework.errors` exceptions;
- it advertises GPU_RESOURCES (a batch pool must not sit on GPU agents) → removed;
- ZooKeeper detection takes the lowest child of any name → only ``json.info_*`` (ours,
  :mod:`framework.mesos.detector`); a list of direct master URLs is rotated on failure;
- RECONCILE drops each task's ``agent_id`` → kept;
- its back-off sleeps between failed connects do not hear of a new leader → cut short
  (:class:`_WakeableTime`); with no leader in ZooKeeper nothing says so → ``no_leader``.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .pymesos_import import import_pymesos

import_pymesos()
from pymesos import MesosSchedulerDriver  # noqa: E402
from pymesos import process as _pm_process  # noqa: E402

from ..errors import ApiError, BackendError, Redirect, from_http_status
from .httpcall import KeepAliveClient
from .protocol import DEFAULT_HEARTBEAT_S, SCHEDULER_PATH, STREAM_ID_HEADER

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S, BACKOFF_MAX_S = 0.5, 30.0
NEVER_S = 100 * 365 * 24 * 3600.0


class _Connection(_pm_process.Connection):
    """pymesos' stream connection with back-off, error containment and a kill switch."""

    def __init__(self, addr: str, callback: Any):
        driver = callback if isinstance(callback, Driver) else None
        delay = driver._take_backoff() if driver is not None else 0.0
        if delay > 0 and driver is not None:
            driver._nap(delay)  # on the IO thread, as pymesos itself does for connect errors
        self._init_error: str | None = None
        try:
            super().__init__(addr, callback)
        except (OSError, ValueError) as exc:  # unresolvable host, "host:port" pymesos can't split
            # pymesos would let this kill its IO thread; report it as a failed connect instead
            self._init_error = f"cannot connect to {addr}: {type(exc).__name__}: {exc}"
            self._addr, self._callback, self.connected = addr, callback, False
            self._sock = socket.socket()
            self._sock.setblocking(False)
            self._parser, self._stream_id, self._request, self._response = None, None, b"", b""
        if driver is not None:
            driver._stream_conn = self

    def handle_connect_event(self) -> str:
        err = self._init_error or super().handle_connect_event()
        if err and isinstance(self._callback, Driver):
            self._callback._connect_failed(err)
        return err

    def read(self) -> bool:
        driver = self._callback if isinstance(self._callback, Driver) else None
        try:
            ok = super().read()
        except Exception as exc:  # 4xx on SUBSCRIBE, malformed RecordIO or JSON, …
            log.error("event stream from %s failed: %s", self.addr, exc)
            if driver is not None:
                driver._stream_failed(str(exc))
            return False
        if not ok and driver is not None and not driver._subscribed_on_stream:
            code = 0
            if self._parser is not None and self._parser.is_headers_complete():
                code = self._parser.get_status_code()
            if code != 307:  # a redirect is followed at once; anything else backs off
                driver._stream_failed(f"stream from {self.addr} ended before SUBSCRIBED"
                                      + (f" (HTTP {code})" if code else ""))
        return ok

    def kill(self) -> None:
        """Shut the socket down from any thread; the IO loop then reconnects."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass


# pymesos builds its stream connections through this module attribute.
_pm_process.Connection = _Connection

#: IO thread → its driver: whose back-off a sleep on that thread is
_SLEEPERS: dict[threading.Thread, "Driver"] = {}


class _WakeableTime:
    """pymesos' ``time`` module, with a ``sleep`` its driver can cut short: pymesos sleeps on
    its IO thread between failed connects (2, 4, 8, 15 s), deaf to a new leader meanwhile."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        driver = _SLEEPERS.get(threading.current_thread())
        if driver is None:
            time.sleep(seconds)
        else:
            driver._nap(seconds)


_pm_process.time = _WakeableTime()


class Driver(MesosSchedulerDriver):
    """The htcmesos scheduler driver (one per framework process)."""

    def __init__(self, scheduler: Any, framework_info: dict[str, Any], masters: str, *,
                 principal: str | None = None, secret: str | None = None,
                 heartbeat_factor: float = 3.0, clock: Callable[[], float] = time.monotonic,
                 call_timeout_s: float = 10.0, call_workers: int = 4):
        # pymesos gives up (and interrupts the main thread) after ``timeout`` seconds without
        # a master; a framework keeps trying: its back-off is ours.
        super().__init__(scheduler, dict(framework_info), masters, use_addict=False,
                         implicit_acknowledgements=True, principal=principal, secret=secret,
                         failover=True, timeout=NEVER_S)
        self._call_timeout_s = call_timeout_s  # (pymesos' Process._timeout is its connect deadline)
        self._subscribed_on_stream = False
        self._stream_started = clock()
        self._clock = clock
        self._heartbeat_factor = heartbeat_factor
        self.heartbeat_interval_s = DEFAULT_HEARTBEAT_S
        self._last_event = clock()
        self._stream_conn: _Connection | None = None
        self._stream_backoff_s = 0.0  # (pymesos' Process has a _backoff method: not that)
        self._connect_failures = 0
        self._urls = [u.strip() for u in masters.split(",")] if "://" in masters and \
            not masters.startswith("zk://") else []
        self._url_index = 0
        self._watchdog: threading.Thread | None = None
        self._detector = None
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=call_workers,
                                        thread_name_prefix="mesos-call")
        self.last_error: str | None = None
        self.bad_events = 0
        self.resubscribes = 0
        self._wake = threading.Event()   # cuts a back-off sleep short: a new master to try
        #: "no Mesos leader at zk://…" while ZooKeeper names none, else None
        self.no_leader: str | None = None

    # -- framework info ----------------------------------------------------------
    @property
    def framework(self) -> dict[str, Any]:
        info = dict(self._framework)
        caps = [c for c in info.get("capabilities", []) if c.get("type") != "GPU_RESOURCES"]
        if caps:
            info["capabilities"] = caps
        else:
            info.pop("capabilities", None)
        return info

    # -- start / stop --------------------------------------------------------------
    def start(self) -> None:
        _pm_process.Process.start(self)
        _SLEEPERS[self._io_thread] = self
        if self.master_uri.startswith("zk://"):
            from .detector import LeaderDetector
            self._detector = LeaderDetector(self.master_uri, self._on_leader)
            self._detector.start()
        else:
            self.change_master(_host_port(self._urls[0] if self._urls else self.master_uri))
        self._watchdog = threading.Thread(target=self._watch, name="mesos-heartbeat-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def stop(self, failover: bool = True) -> None:
        """Stop; with ``failover`` (default) the master keeps our tasks until failover_timeout."""
        if self._detector is not None:
            self._detector.stop()
            self._detector = None
        super().stop(failover=failover)
        self._wake.set()
        _SLEEPERS.pop(self._io_thread, None)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _nap(self, seconds: float) -> None:
        """A back-off sleep on the IO thread, cut short by news of another master."""
        if self._wake.wait(seconds):
            self._wake.clear()

    def change_master(self, new_master: str | None) -> None:
        """Another master to speak to (leader change, redirect, next URL): no back-off
        left over from the old one holds up the first try."""
        news = new_master != self.master
        if news:
            self._stream_backoff_s = 0.0
        super().change_master(new_master)    # pymesos' wake-up pipe first: once awake, the
        if news:                             # IO thread must find the new master there
            self._wake.set()

    def _get_version(self, master: str | None) -> str | None:
        """pymesos asks GET /version on every master change and splits ``host:port`` outside
        its error handling (an IPv6 address raises); a version we cannot get is None."""
        try:
            return super()._get_version(master)
        except Exception as exc:  # noqa: BLE001 - only informative, never fatal
            log.warning("cannot ask %s for its version: %s", master, exc)
            return None

    def _on_leader(self, address: str | None) -> None:
        where = self.master_uri
        if address is None:
            self.no_leader = f"no Mesos leader at {where}"
            log.warning("%s: waiting for a master to be elected", self.no_leader)
        else:
            if self.no_leader:
                log.warning("Mesos leader at %s: %s (none before)", where, address)
            else:
                log.info("leading master: %s", address)
            self.no_leader = None
        self.change_master(address)

    # -- stream health ---------------------------------------------------------------
    def process_event(self, event: Any) -> None:
        self._last_event = self._clock()
        if not self._started:
            return
        try:
            if not isinstance(event, dict):
                raise ValueError(f"event is not a JSON object: {event!r:.200}")
            self.on_event(event)
        except Exception as exc:
            self.bad_events += 1
            log.error("dropped a malformed or unexpected event (%s: %s): %.300s",
                      type(exc).__name__, exc, json.dumps(event, default=str))

    def on_subscribed(self, info: dict[str, Any]) -> None:
        interval = info.get("heartbeat_interval_seconds")
        if isinstance(interval, (int, float)) and interval > 0:
            self.heartbeat_interval_s = float(interval)
        self._stream_backoff_s = 0.0
        self._connect_failures = 0
        self._subscribed_on_stream = True
        self.last_error = None
        super().on_subscribed(info)

    def _watch(self) -> None:
        """Resubscribe when a stream is silent for ``heartbeat_factor`` heartbeats, or when
        a SUBSCRIBE gets no answer for as long (pymesos has no read timeout)."""
        while not self.aborted:
            time.sleep(min(1.0, self.heartbeat_interval_s / 2))
            now, limit = self._clock(), self._heartbeat_factor * self.heartbeat_interval_s
            silent = now - self._last_event
            hung = (not self._subscribed_on_stream and self._stream_conn is not None
                    and now - self._stream_started > limit + self._call_timeout_s)
            if (self.connected and silent > limit) or hung:
                log.warning("no event from %s for %.1f s (heartbeat %.1f s): resubscribing",
                            self.master, silent, self.heartbeat_interval_s)
                self.resubscribes += 1
                self._last_event = self._stream_started = now
                conn = self._stream_conn
                if conn is not None:
                    conn.kill()

    def _take_backoff(self) -> float:
        """A new stream connection is about to be made: how long to wait first. News of a
        master from before is in the back-off already (zeroed): it wakes no later nap."""
        self._wake.clear()
        delay, self._last_event = self._stream_backoff_s, self._clock()
        self._subscribed_on_stream = False
        self._stream_started = self._clock() + delay
        return delay

    def _stream_failed(self, reason: str) -> None:
        self.last_error = reason
        self._stream_backoff_s = min(BACKOFF_MAX_S,
                                     max(BACKOFF_INITIAL_S, self._stream_backoff_s * 2))
        try:
            self.sched.error(self, reason)
        except Exception:  # the scheduler's own problem must not stop the stream
            log.exception("scheduler.error failed")

    def _connect_failed(self, err: str) -> None:
        self._connect_failures += 1
        if len(self._urls) > 1 and self._connect_failures >= 2:
            self._connect_failures = 0
            self._url_index = (self._url_index + 1) % len(self._urls)
            nxt = _host_port(self._urls[self._url_index])
            log.warning("master %s unreachable (%s): trying %s", self.master, err, nxt)
            self.change_master(nxt)

    # -- calls -------------------------------------------------------------------------
    def _call_conn(self) -> KeepAliveClient:
        """This thread's keep-alive connection to the leading master (calls run in parallel:
        pymesos' one shared connection serialises every round trip)."""
        master = self.master
        if not self.connected or master is None:
            raise BackendError("not subscribed to a master yet")
        cached = getattr(self._local, "conn", None)
        if cached is not None and cached[0] == master:
            return cached[1]
        if cached is not None:
            cached[1].close()
        host, port = master.rsplit(":", 1)
        conn = KeepAliveClient(host, int(port), self._call_timeout_s)
        self._local.conn = (master, conn)
        return conn

    def _send(self, body: Any, path: str = SCHEDULER_PATH, method: str = "POST",
              headers: dict | None = None) -> dict:
        """One call to the leading master; errors as :mod:`framework.errors` exceptions."""
        headers = dict(headers or {})
        conn = self._call_conn()
        master = self.master
        data = json.dumps(body).encode() if body != "" else b""
        if data:
            headers["Content-Type"] = "application/json"
        if self.stream_id:
            headers[STREAM_ID_HEADER] = self.stream_id
        if self._basic_credential:
            headers["Authorization"] = self._basic_credential
        try:
            status, answer_headers, payload = conn.request(method, path, data, headers)
        except OSError as exc:
            conn.close()
            raise BackendError(f"call to {master} failed: {exc}") from exc
        if status >= 300:
            err = from_http_status(status, payload.decode("utf-8", "replace")[:500],
                                   f"http://{master}{path}", answer_headers.get("location", ""))
            if isinstance(err, Redirect) and err.location:
                self.change_master(_host_port(err.location))
            raise err
        try:
            return json.loads(payload) if payload else {}
        except ValueError:
            return {}

    def reconcileTasks(self, tasks: list[dict]) -> None:
        """RECONCILE keeping each task's ``agent_id``: pymesos sends task ids only, and a
        new leader answers nothing for a task whose agent it is not told while any agent
        has yet to re-register (master.cpp ``_reconcileTasks``)."""
        if not self.connected:
            return
        self._send({"type": "RECONCILE", "framework_id": {"value": self.framework_id},
                    "reconcile": {"tasks": [{k: t[k] for k in ("task_id", "agent_id") if k in t}
                                            for t in tasks]}})

    def acknowledgeStatusUpdate(self, status: dict) -> None:
        """pymesos acks only updates with a uuid (right); acks go out in the background so
        the event stream is never held up by a round trip; a failed ack is logged."""
        self.submit(MesosSchedulerDriver.acknowledgeStatusUpdate.__get__(self), status)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run one call method, logging instead of raising; True if it went through."""
        try:
            fn(*args, **kwargs)
            return True
        except (ApiError, BackendError) as exc:
            log.warning("%s failed: %s", getattr(fn, "__name__", "call"), exc)
        except Exception:  # a bug must not vanish silently inside the call pool
            log.exception("%s failed unexpectedly", getattr(fn, "__name__", "call"))
        return False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run one call on the call pool (in parallel, order not guaranteed)."""
        try:
            self._pool.submit(self.call, fn, *args)
        except RuntimeError:  # pool shut down: the driver is stopping
            log.debug("dropped %s: driver stopped", getattr(fn, "__name__", "call"))


def _host_port(url: str) -> str:
    """``http://h:5050/…`` or ``//h:5050/…`` or ``h:5050`` → ``h:5050``."""
    rest = url.split("://", 1)[-1].lstrip("/")
    host = rest.split("/", 1)[0]
    return host if ":" in host.rsplit("]", 1)[-1] else host + ":5050"
