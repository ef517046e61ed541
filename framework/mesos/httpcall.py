"""A lean HTTP/1.1 keep-alive client for scheduler calls.

``http.client`` parses every response's headers through the ``email`` package: at tens of
thousands of calls (ACKs, ACCEPTs) that is most of the framework's CPU. Calls need little:
send one request, read the status line, the headers and a Content-Length (or chunked) body.
"""
from __future__ import annotations

import socket

MAX_HEADER_BYTES = 64 * 1024


class HttpCallError(OSError):
    """The connection failed or the answer was not HTTP/1.x."""


class KeepAliveClient:
    """One persistent connection to ``host:port`` (not thread-safe: one per thread)."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""
        self._answer_started = False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf = None, b""

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send one request; (status, lower-cased headers, body).

        Retried once only when a kept-alive connection was closed by the server before a
        single byte of the answer came (it closed an idle connection, so it never saw the
        request); never after a timeout or a partial answer: calls like ACCEPT must not
        reach the master twice."""
        reused = self._sock is not None
        self._answer_started = False
        try:
            return self._exchange(method, path, body, headers or {})
        except socket.timeout:
            self.close()
            raise
        except OSError:
            self.close()
            if not reused or self._answer_started:
                raise
        self._answer_started = False
        try:
            return self._exchange(method, path, body, headers or {})
        except OSError:
            self.close()
            raise

    def _exchange(self, method: str, path: str, body: bytes,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpCallError(f"not an HTTP answer: {status_line[:80]!r}")
        found: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
        try:
            if found.get("transfer-encoding", "").lower() == "chunked":
                data = self._read_chunked()
            else:
                data = self._read_exact(int(found.get("content-length", "0") or 0))
        except ValueError as exc:  # bad length: the connection is out of step, drop it
            raise HttpCallError(f"malformed answer: {exc}") from None
        if found.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self.close()
        return int(parts[1]), found, data

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise HttpCallError("connection closed by the server")
        self._answer_started = True
        self._buf += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while True:
            end = self._buf.find(marker)
            if end >= 0:
                out, self._buf = self._buf[:end], self._buf[end + len(marker):]
                return out
            if len(self._buf) > MAX_HEADER_BYTES:
                raise HttpCallError("response headers too large")
            self._fill()

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0] or b"0", 16)
            if size == 0:
                self._read_until(b"\r\n")
                return b"".join(parts)
            parts.append(self._read_exact(size))
            self._read_exact(2)
