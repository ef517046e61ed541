"""The lean keep-alive call client against a real HTTP server on loopback."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from framework.mesos.httpcall import HttpCallError, KeepAliveClient


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hel", b"lo ", body):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
        else:
            self.send_response(307 if self.path == "/redirect" else 202)
            self.send_header("Location", "//other:5050/api/v1/scheduler")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_keep_alive_echo_chunked_and_headers(server):
    client = KeepAliveClient("127.0.0.1", server.server_address[1], 5)
    for i in range(50):
        status, headers, body = client.request("POST", "/echo", b"x%d" % i)
        assert (status, body) == (202, b"x%d" % i)
    sock = client._sock
    status, headers, body = client.request("POST", "/chunked", b"world")
    assert (status, body) == (200, b"hello world") and client._sock is sock  # same connection
    status, headers, _ = client.request("POST", "/redirect", b"")
    assert status == 307 and headers["location"] == "//other:5050/api/v1/scheduler"


def test_connection_close_and_reconnect(server):
    client = KeepAliveClient("127.0.0.1", server.server_address[1], 5)
    assert client.request("POST", "/close", b"")[0] == 202 and client._sock is None
    assert client.request("POST", "/echo", b"again")[2] == b"again"


def test_server_gone_raises_oserror():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(OSError):
        KeepAliveClient("127.0.0.1", port, 2).request("POST", "/", b"")


def test_not_http_is_an_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-nope\r\n\r\n")
        conn.close()
    threading.Thread(target=answer, daemon=True).start()
    with pytest.raises(HttpCallError, match="not an HTTP answer"):
        KeepAliveClient("127.0.0.1", listener.getsockname()[1], 2).request("POST", "/", b"")
    listener.close()


def test_a_timed_out_call_is_not_sent_twice():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    seen: list[bytes] = []
    done = threading.Event()

    def slow_master():
        conn, _ = listener.accept()
        seen.append(conn.recv(65536))
        done.wait(5)  # answers only after the client gave up
        conn.close()
        listener.settimeout(1)
        try:
            extra, _ = listener.accept()
            seen.append(extra.recv(65536))
            extra.close()
        except OSError:
            pass
    thread = threading.Thread(target=slow_master, daemon=True)
    thread.start()
    client = KeepAliveClient("127.0.0.1", listener.getsockname()[1], 0.5)
    client._sock = socket.create_connection(("127.0.0.1", listener.getsockname()[1]), 0.5)
    with pytest.raises(OSError):
        client.request("POST", "/api/v1/scheduler", b'{"type":"ACCEPT"}')
    done.set()
    thread.join(5)
    listener.close()
    assert len(seen) == 1
