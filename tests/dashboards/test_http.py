"""The app over real HTTP on loopback: the framework's ApiServer (strict HTTP as the CLUES
API was), and ``htcmesos dashboard``'s RemoteSource against a framework's app."""
from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from dashboards import create_app
from dashboards.remote import RemoteSource
from framework.api.server import ApiServer
from framework.errors import BackendError
from framework.webserve import WebServer
from tests.dashboards.fakes import AUTH, TOKEN, app_for, book, scripted, two_ticks

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def framework():
    """A framework's app (the scripted pool, tokens) on a free loopback port."""
    loop = scripted()
    server = ApiServer("127.0.0.1:0", loop, book()).start()
    yield loop, server.url
    server.stop()


@pytest.fixture
def dashboard(framework):
    """``htcmesos dashboard --api URL`` for that framework, on another port."""
    loop, api = framework
    server = WebServer("127.0.0.1:0", create_app(RemoteSource(api, timeout=5.0)),
                       "dashboard").start()
    yield loop, api, server.url
    server.stop()


def raw(url: str, request: bytes) -> bytes:
    """Send ``request`` as it is and read the whole answer (the server closes)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_the_api_server_speaks_http_strictly(framework):
    loop, base = framework
    two_ticks(loop)
    assert requests.head(f"{base}/api/v1/status", timeout=5).status_code == 200
    answer = raw(base, b"POST /api/v1/autoscaling/pause HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: abc\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length is not a number" in answer
    assert b"\r\nX-Content-Type-Options: nosniff\r\n" in answer
    answer = raw(base, b"POST /api/v1/autoscaling/pause HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: -5\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length -5 is negative" in answer
    r = requests.patch(f"{base}/api/v1/sites/dc", data=b"x" * (65 * 1024),
                       headers={**AUTH, **JSON}, timeout=5)
    assert (r.status_code, r.json()) == (413, {"error": "a body of 66560 bytes; at most 65536"})
    chunks = (b"{" if i == 0 else b" " * 8192 for i in range(10))      # chunked, 72 KiB
    r = requests.patch(f"{base}/api/v1/sites/dc", data=chunks, headers={**AUTH, **JSON},
                       timeout=5)
    assert (r.status_code, r.json()) == (413, {"error": "a body over 65536 bytes"})
    assert not loop.status.actions()
    r = requests.patch(f"{base}/api/v1/sites/dc", json={"max": 6}, headers=AUTH, timeout=5)
    assert r.status_code == 200 and r.json()["bounds"] == {"min": 1, "max": 6}
    page = requests.get(f"{base}/", timeout=5)
    assert page.status_code == 200 and 'id="plot"' in page.text


def test_the_dashboard_elsewhere_shows_the_frameworks_documents(dashboard):
    loop, api, base = dashboard
    r = requests.get(f"{base}/api/v1/status", timeout=5)
    assert r.status_code == 503 and r.json() == requests.get(f"{api}/api/v1/status",
                                                             timeout=5).json()
    two_ticks(loop)
    for path in ("/api/v1/status", "/api/v1/sites", "/api/v1/sites/campus",
                 "/api/v1/history?limit=1", "/api/v1/decisions", "/api/v1/tasks",
                 "/api/v1/autoscaling", "/api/v1/openapi.json"):
        mine, theirs = (requests.get(f"{u}{path}", timeout=5) for u in (base, api))
        assert (mine.status_code, mine.json()) == (200, theirs.json()), path
    mine, theirs = (requests.get(f"{u}/metrics", timeout=5) for u in (base, api))
    assert mine.text == theirs.text and "htcmesos_ticks_total" in mine.text
    assert mine.headers["Content-Type"] == theirs.headers["Content-Type"]
    assert 'data-remote="yes"' in requests.get(f"{base}/", timeout=5).text
    r = requests.get(f"{base}/v1/clues/nodes", timeout=5)     # CLUES asks the framework
    assert r.status_code == 404 and "CLUES" not in r.json()["error"]


def test_changes_through_the_dashboard_carry_the_callers_token(dashboard, caplog):
    loop, api, base = dashboard
    two_ticks(loop)
    caplog.set_level(logging.INFO)
    r = requests.patch(f"{base}/api/v1/sites/dc", json={"desired": 2}, headers=AUTH, timeout=5)
    assert (r.status_code, r.json()["desired"]) == (200, 2)
    r = requests.post(f"{base}/api/v1/autoscaling/pause", headers=AUTH, timeout=5)
    assert (r.status_code, r.json()) == (200, {"paused": True})
    assert [(a.who, a.action) for a in loop.status.actions()] == [
        ("alice@127.0.0.1", "pause"), ("alice@127.0.0.1", "set_site")]
    assert "PATCH /api/v1/sites/dc for anonymous@127.0.0.1 passed on to" in caplog.text
    assert TOKEN not in caplog.text
    before = (loop.controls, loop.status.actions())
    # the framework's refusals come back as it gave them
    r = requests.post(f"{base}/api/v1/autoscaling/resume", timeout=5)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="htcmesos"'
    assert r.json() == {"error": "a bearer token is required to change the pool "
                                 "(Authorization: Bearer <a token of api.token_file>)"}
    r = requests.patch(f"{base}/api/v1/sites/dc", json={"min": 5, "max": 3}, headers=AUTH,
                       timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": "min 5 is above max 3 at site dc"})
    r = requests.post(f"{base}/api/v1/sites/lab%201/drain", headers=AUTH, timeout=5)
    assert (r.status_code, r.json()) == (404, {"error": "no site 'lab 1' in this pool (its "
                                                        "sites: campus, dc)"})
    for name in ("..", "."):            # a name, not a step up the path
        r = requests.post(f"{base}/api/v1/sites/{name.replace('.', '%2E')}/drain",
                          headers=AUTH, timeout=5)
        assert (r.status_code, r.json()) == (404, {"error": f"no site '{name}' in this pool "
                                                            f"(its sites: campus, dc)"})
    # and the dashboard's own checks come first: nothing malformed is passed on
    r = requests.patch(f"{base}/api/v1/sites/dc", data=json.dumps([1]),
                       headers={**AUTH, **JSON}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": "the body must be a JSON object, not "
                                                        "an array"})
    assert (loop.controls, loop.status.actions()) == before


def test_a_framework_that_does_not_answer_is_a_502_naming_it():
    with socket.socket() as sock:               # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = create_app(RemoteSource(gone, timeout=2.0)).test_client()
    for r in (client.get("/api/v1/status"), client.get("/metrics"),
              client.post("/api/v1/autoscaling/pause", headers=AUTH)):
        assert r.status_code == 502
        assert r.get_json() == {"error": f"the htcmesos API at {gone} does not answer: "
                                         f"ConnectionError"}


def test_the_old_single_token_and_no_token():
    loop = scripted()
    server = ApiServer("127.0.0.1:0", loop, "s3cret-single").start()
    try:
        r = requests.post(f"{server.url}/api/v1/autoscaling/pause",
                          headers={"Authorization": "Bearer s3cret-single"}, timeout=5)
        assert r.status_code == 200 and loop.status.actions()[0].who == "token@127.0.0.1"
    finally:
        server.stop()
    closed = app_for(loop).test_client()
    assert closed.post("/api/v1/autoscaling/resume", headers=AUTH).status_code == 403


class Recorder:
    """A WSGI app that answers every request with ``status`` (and ``headers``) and keeps
    what it was asked: (method, path, Authorization)."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.asked: list[tuple[str, str, str | None]] = []

    def __call__(self, environ, start_response):
        self.asked.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                           environ.get("HTTP_AUTHORIZATION")))
        start_response(self.status, [*self.headers, ("Content-Length", str(len(self.body)))])
        return [self.body]


def test_a_redirecting_api_is_a_502_and_the_token_goes_nowhere_else():
    elsewhere = Recorder("200 OK", [("Content-Type", "application/json")], b'{"paused": true}')
    other = WebServer("127.0.0.1:0", elsewhere, "elsewhere").start()
    moved = Recorder("302 Found", [("Location", other.url + "/collect"),
                                   ("Content-Type", "text/plain")], b"# moved\n")
    api = WebServer("127.0.0.1:0", moved, "moved").start()
    try:
        client = create_app(RemoteSource(api.url, timeout=5.0)).test_client()
        for r in (client.get("/metrics"), client.get("/api/v1/status"),
                  client.post("/api/v1/autoscaling/pause", headers=AUTH)):
            assert (r.status_code, r.get_json()) == (502, {"error": (
                f"the htcmesos API at {api.url} answered HTTP 302: a redirect (to "
                f"{other.url}/collect) is not followed")})
        assert [a[:2] for a in moved.asked] == [("GET", "/metrics"), ("GET", "/api/v1/status"),
                                                ("POST", "/api/v1/autoscaling/pause")]
        assert elsewhere.asked == []
    finally:
        api.stop()
        other.stop()


def test_the_api_urls_password_is_in_no_message_or_log(caplog):
    with socket.socket() as sock:               # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    client = create_app(RemoteSource(f"http://op:pw-77-secret@127.0.0.1:{port}/",
                                     timeout=2.0)).test_client()
    for r in (client.get("/api/v1/status"), client.post("/api/v1/autoscaling/pause",
                                                        headers=AUTH)):
        assert (r.status_code, r.get_json()) == (502, {"error": (
            f"the htcmesos API at http://127.0.0.1:{port} does not answer: ConnectionError")})
    assert "pw-77-secret" not in caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_the_server_listens_on_v4_and_v6_and_stop_gives_the_port_back(host):
    loop = scripted()
    try:
        server = ApiServer(f"{host}:0", loop, book()).start()
    except BackendError as exc:
        if host.startswith("["):                        # a host without IPv6 loopback
            pytest.skip(f"no IPv6 here: {exc}")
        raise
    url = server.url
    assert url.startswith(f"http://{host}:")
    slow = socket.create_connection((host.strip("[]"), int(url.rsplit(":", 1)[1])))
    slow.sendall(b"GET /api/v1/sites HTTP/1.1\r\nHost: x\r\n")    # and never the rest
    try:
        assert requests.get(f"{url}/api/v1/sites", timeout=5).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/api/v1/sites", timeout=5)
        again = ApiServer(url.removeprefix("http://"), loop, book()).start()
        try:
            assert requests.get(f"{url}/api/v1/sites", timeout=5).status_code == 200
        finally:
            again.stop()
    finally:
        slow.close()
