"""The operators' commands against a real API server (real HTTP on loopback) over the
scripted pool: what they print, their exit codes, and ``htcmesos dashboard`` serving the
framework's page and API from another process."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner

from dashboards.auth import TokenBook
from framework.api.server import ApiServer
from framework.cli import cli
from tests.conftest import ROOT
from tests.dashboards.fakes import TOKEN, scripted, two_ticks


@pytest.fixture
def served(tmp_path) -> Iterator[tuple]:
    loop = scripted()
    two_ticks(loop)
    server = ApiServer("127.0.0.1:0", loop, TokenBook((("carol", TOKEN),), "tokens")).start()
    token = tmp_path / "token"
    token.write_text(f"carol {TOKEN}\n")
    try:
        yield loop, server, str(token)
    finally:
        server.stop()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


def test_status_prints_each_site_and_the_last_reasons(served):
    loop, server, _ = served
    code, out = run("status", "--url", server.url)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("pool p: STALE (95 s old; the collector at 10.1.0.2:9618")
    dc = next(line for line in lines if line.startswith("dc "))
    assert dc.split()[:8] == ["dc", "3", "1", "2", "0", "1", "2", "4"], dc
    assert "held: black hole" in next(line for line in lines if line.startswith("campus "))
    assert "  COVERED dc: 2 idle jobs fit" in lines


def test_site_changes_need_the_token_and_say_what_is_wrong(served):
    loop, server, token = served
    code, out = run("site", "dc", "--desired", "3", "--url", server.url)
    assert code == 2 and "HTTP 401" in out and loop.controls.site("dc").desired is None
    code, out = run("site", "dc", "--desired", "3", "--url", server.url, "--token-file", token)
    assert code == 0, out
    assert out.strip().startswith("site dc: bounds 1–10, desired 3;")
    assert loop.controls.site("dc").desired == 3
    assert loop.status.actions(1)[0].who == "carol@127.0.0.1"
    code, out = run("site", "dc", "--min", "12", "--url", server.url, "--token-file", token)
    assert code == 2 and "min 12 is above max 10" in out, out
    code, out = run("site", "lab", "--max", "1", "--url", server.url, "--token-file", token)
    assert code == 2 and "'lab'" in out, out
    code, out = run("site", "dc", "--max", "ten", "--url", server.url, "--token-file", token)
    assert code == 2 and "'ten' is not a whole number" in out, out
    code, out = run("site", "dc", "--desired", "queue", "--url", server.url,
                    "--token-file", token)
    assert code == 0 and "desired queue" in out and loop.controls.site("dc").desired is None


def test_drains_and_pause_through_the_command_line(served):
    loop, server, token = served
    common = ("--url", server.url, "--token-file", token)
    code, out = run("pause", *common)
    assert (code, out.strip()) == (0, "autoscaling paused") and loop.controls.paused
    code, out = run("resume", *common)
    assert (code, out.strip()) == (0, "autoscaling running") and not loop.controls.paused
    code, out = run("drain-site", "campus", *common)
    assert code == 0 and loop.controls.site("campus").drained, out
    code, out = run("undrain-site", "campus", *common)
    assert code == 0 and not loop.controls.site("campus").drained, out
    code, out = run("drain-node", "no-such-node", *common)
    assert code == 2 and "no-such-node" in out, out


def test_an_api_that_does_not_answer_exits_1(served):
    _, server, _ = served
    url = server.url
    server.stop()
    code, out = run("status", "--url", url)
    assert code == 1 and "does not answer" in out, out


def test_the_dashboard_command_serves_the_framework_page_and_api(served):
    loop, server, _ = served
    proc = subprocess.Popen([sys.executable, "-m", "framework.cli", "dashboard", "--api",
                             server.url, "--listen", "127.0.0.1:0"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = proc.stdout.readline()             # the first line says where it listens
        match = re.match(r"dashboard of (\S+) on (http://127\.0\.0\.1:\d+)/", line)
        assert match and match[1] == server.url, line
        url = match[2]
        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200 and 'data-remote="yes"' in page.text
        direct = requests.get(server.url + "/api/v1/status", timeout=10).json()
        assert requests.get(url + "/api/v1/status", timeout=10).json() == direct
        refused = requests.patch(url + "/api/v1/sites/dc", json={"max": 2}, timeout=10)
        assert refused.status_code == 401 and loop.controls.site("dc").max == 10
        done = requests.patch(url + "/api/v1/sites/dc", json={"max": 2}, timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert done.status_code == 200 and loop.controls.site("dc").max == 2, done.text
        assert "htcmesos_executors{" in requests.get(url + "/metrics", timeout=10).text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, proc.stdout.read()


def test_a_name_is_one_path_segment_whatever_it_holds(served):
    loop, server, token = served
    common = ("--url", server.url, "--token-file", token)
    assert run("drain-site", "campus", *common)[0] == 0
    before = (loop.controls, loop.status.actions())
    # read as a path, these would undrain campus, or ask with a query parameter
    for args in (("drain-site", "campus/undrain#"), ("drain-site", "campus/undrain?"),
                 ("site", "campus/../dc", "--max", "3"), ("drain-node", "../../sites/dc")):
        code, out = run(*args, *common)
        assert code == 2 and "HTTP 404" in out, (args, out)
    for name in ("dc?verbose=1", "..", "."):
        code, out = run("site", name, "--max", "3", *common)
        assert code == 2 and f"no site '{name}'" in out, out
    code, out = run("drain-site", "..", *common)
    assert code == 2 and "no site '..'" in out, out
    assert (loop.controls, loop.status.actions()) == before


@pytest.mark.parametrize("value", ["²", "١", "3.0", "-1", ""])
def test_counts_are_ascii_digits(served, value):
    loop, server, token = served
    code, out = run("site", "dc", "--max", value, "--url", server.url, "--token-file", token)
    assert code == 2 and f"{value!r} is not a whole number ≥ 0" in out, out
    assert loop.controls.site("dc").max == 10


def test_a_redirecting_api_is_an_error_not_a_silent_get(tmp_path):
    from framework.webserve import WebServer
    from tests.dashboards.test_http import Recorder

    elsewhere = Recorder("200 OK", [("Content-Type", "application/json")],
                         b'{"name": "dc", "executors": {}, "bounds": {}}')
    other = WebServer("127.0.0.1:0", elsewhere, "elsewhere").start()
    moved = Recorder("302 Found", [("Location", other.url + "/api/v1/sites/dc"),
                                   ("Content-Type", "application/json")], b"{}")
    api = WebServer("127.0.0.1:0", moved, "moved").start()
    token = tmp_path / "token"
    token.write_text(f"carol {TOKEN}\n")
    try:
        code, out = run("site", "dc", "--max", "3", "--url", api.url, "--token-file",
                        str(token))
        assert code == 1 and "HTTP 302" in out and f"{other.url}/api/v1/sites/dc" in out, out
        assert [a[:2] for a in moved.asked] == [("PATCH", "/api/v1/sites/dc")]
        assert elsewhere.asked == []
    finally:
        api.stop()
        other.stop()
