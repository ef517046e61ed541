"""The client's error mapping (status → exception) and its request shapes, against a tiny
local HTTP handler; SSE parsing. Behaviour against Marathon is tested on the emulator."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from framework.backends.marathon.client import (MarathonClient, client_for, parse_sse,
                                                read_credentials, writable_app)
from framework.errors import (BackendError, MarathonError, MarathonInvalid, MarathonLocked,
                              MarathonNotFound, MarathonUnavailable)


class Canned:
    """Answers every request with ``status`` and ``body``; records the requests."""

    def __init__(self) -> None:
        self.status, self.body = 200, {}
        self.by_method: dict[str, tuple[int, Any]] = {}   # method → (status, body)
        self.requests: list[tuple[str, str, Any, dict]] = []


@pytest.fixture
def server() -> Iterator[tuple[Canned, str]]:
    canned = Canned()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            canned.requests.append((self.command, self.path,
                                    json.loads(raw) if raw else None, dict(self.headers)))
            status, body = canned.by_method.get(self.command, (canned.status, canned.body))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield canned, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_422_lists_the_details_field_by_field(server):
    canned, url = server
    canned.status, canned.body = 422, {"message": "Invalid JSON", "details": [
        {"path": "/instances", "errors": ["error.min"]},
        {"path": "/networks", "errors": ["Network name must be specified when container "
                                         "network is selected."]}]}
    with pytest.raises(MarathonInvalid) as info:
        MarathonClient(url).put_app("/htcondor/p1/master", {"id": "/htcondor/p1/master"})
    exc = info.value
    assert exc.status == 422 and exc.details == [
        ("/instances", ["error.min"]),
        ("/networks", ["Network name must be specified when container network is selected."])]
    assert str(exc) == ("Marathon refused /htcondor/p1/master: /instances: error.min; "
                        "/networks: Network name must be specified when container network "
                        "is selected.")


def test_409_names_the_holding_deployments(server):
    canned, url = server
    canned.status, canned.body = 409, {
        "message": "App is locked by one or more deployments. Override with the option "
                   "'?force=true'. View details at '/v2/deployments/<ID>'.",
        "deployments": [{"id": "d-1"}, {"id": "d-2"}]}
    with pytest.raises(MarathonLocked) as info:
        MarathonClient(url).put_group("/htcondor/p1", {"id": "/htcondor/p1", "apps": []})
    assert info.value.deployments == ["d-1", "d-2"] and "locked" in str(info.value)


@pytest.mark.parametrize("status,kind", [(404, MarathonNotFound), (500, MarathonUnavailable),
                                         (503, MarathonUnavailable), (401, MarathonError),
                                         (418, MarathonError)])
def test_other_statuses(server, status, kind):
    canned, url = server
    canned.status, canned.body = status, {"message": "nope"}
    with pytest.raises(kind) as info:
        MarathonClient(url).scale_app("/a", 3)
    assert info.value.status == status
    if status >= 500:
        assert url in str(info.value)


def test_absent_group_and_app_are_none(server):
    canned, url = server
    canned.status, canned.body = 404, {"message": "Group '/x' does not exist"}
    c = MarathonClient(url)
    assert c.get_group("/x") is None and c.get_app("/x/y") is None
    assert canned.requests[0][1] == "/v2/groups/x?embed=group.apps"


def test_no_answer_is_unavailable_naming_the_url():
    with pytest.raises(MarathonUnavailable) as info:
        MarathonClient("http://127.0.0.1:9", timeout_s=2).ping()
    assert "http://127.0.0.1:9" in str(info.value) and info.value.status == 0


def test_request_shapes(server):
    canned, url = server
    canned.body = {"deploymentId": "d-9", "version": "v1"}
    c = MarathonClient(url, auth=("ops", "pw"))
    app = {"id": "/g/a", "instances": 2, "version": "old", "tasksRunning": 1, "tasks": [],
           "deployments": [], "lastTaskFailure": {}, "versionInfo": {}}
    assert c.put_app("/g/a", app).id == "d-9"
    assert c.scale_app("/g/a", 5, force=True).version == "v1"
    assert c.kill_tasks(["t1", "t2"]).id == "d-9"
    (m1, p1, b1, h1), (m2, p2, b2, _), (m3, p3, b3, _) = canned.requests
    assert (m1, p1, b1) == ("PUT", "/v2/apps/g/a?partialUpdate=false",
                            {"id": "/g/a", "instances": 2})
    assert h1["Authorization"].startswith("Basic ")
    assert (m2, p2, b2) == ("PUT", "/v2/apps/g/a?force=true", {"instances": 5})
    assert (m3, p3, b3) == ("POST", "/v2/tasks/delete?scale=true", {"ids": ["t1", "t2"]})
    assert writable_app(app) == {"id": "/g/a", "instances": 2}


def test_credentials_file(tmp_path):
    f = tmp_path / "cred"
    f.write_text("ops:s3cret:with-colon\n")
    assert read_credentials(f) == ("ops", "s3cret:with-colon")
    f.write_text("no-colon-s3cret")
    with pytest.raises(BackendError) as info:
        read_credentials(f)
    assert "s3cret" not in str(info.value) and str(f) in str(info.value)
    with pytest.raises(BackendError):
        read_credentials(tmp_path / "missing")


def test_client_for_needs_a_url():
    class Spec:
        class backend:
            marathon = None
    with pytest.raises(BackendError):
        client_for(Spec())
    assert client_for(Spec(), "http://m:8080").url == "http://m:8080"


def test_parse_sse_frames():
    lines = [": keep-alive", "event: event_stream_attached", 'data: {"remoteAddress": "x"}', "",
             "event: deployment_success", 'data: {"id": "d-1",', 'data: "plan": {}}', "",
             "data: plain", ""]
    assert list(parse_sse(lines)) == [("event_stream_attached", {"remoteAddress": "x"}),
                                      ("deployment_success", {"id": "d-1", "plan": {}}),
                                      ("message", "plain")]
