"""The emulated agents' Mesos fetcher and site firewall rules, without Docker."""
from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from framework.sim.docker.firewall import SiteFirewall
from framework.sim.docker.fetcher import FetchError, fetch_all, fetch_uri


@pytest.fixture
def http_files(tmp_path: Path):
    """A loopback HTTP server of ``tmp_path/www`` (404 for anything missing)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(www), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_file_lands_at_output_file_with_mode_0644(http_files, tmp_path: Path):
    www, base = http_files
    (www / "token").write_bytes(b"t0k")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    path = fetch_uri(sandbox, {"value": f"{base}/token", "output_file": "creds/tokens/x"})
    assert path == sandbox / "creds" / "tokens" / "x" and path.read_bytes() == b"t0k"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    # without output_file: the URL's basename
    assert fetch_uri(sandbox, {"value": f"{base}/token"}) == sandbox / "token"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_local_paths_are_copied_and_executable_is_0755(tmp_path: Path):
    src = tmp_path / "tool.sh"
    src.write_text("#!/bin/sh\n")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    for value in (str(src), f"file://{src}"):
        path = fetch_uri(sandbox, {"value": value, "executable": True})
        assert path.read_text() == "#!/bin/sh\n" and path.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("uri, needle", [
    ({"value": "http://x/y", "output_file": "/etc/passwd"}, "within the sandbox"),
    ({"value": "http://x/y", "output_file": "a/../../b"}, "within the sandbox"),
    ({"value": "hdfs://nn/file"}, "unsupported scheme"),
    ({"value": "http://x/a'b"}, "invalid URI"),
    ({"value": "http://x/data.tar.gz"}, "archive extraction"),
])
def test_bad_uris_are_refused(tmp_path: Path, uri, needle):
    with pytest.raises(FetchError, match=needle):
        fetch_uri(tmp_path, uri)


def test_a_failed_fetch_is_logged_to_the_sandbox_stderr(http_files, tmp_path: Path):
    www, base = http_files
    (www / "ok").write_bytes(b"ok")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    with pytest.raises(FetchError, match="received HTTP return code 404"):
        fetch_all(sandbox, [{"value": f"{base}/ok"}, {"value": f"{base}/missing"}])
    assert (sandbox / "ok").read_bytes() == b"ok"
    assert "HTTP return code 404" in (sandbox / "stderr").read_text()


def test_firewall_rules_reject_only_new_connections_into_private_sites():
    fw = SiteFirewall("r1", iptables="/bin/false")
    fw._bridges = {"br-pub": False, "br-priv": True, "br-pub2": False}   # no iptables run
    rules = fw.rules()
    assert rules[0][:5] == ["-o", "br-priv", "-m", "conntrack", "--ctstate"]  # replies first
    rejects = [r for r in rules if r[-1] == "REJECT"]
    assert rejects == [["!", "-i", "br-priv", "-o", "br-priv", "-j", "REJECT"]]
    accepts = {(r[1], r[3]) for r in rules if r[-1] == "ACCEPT" and r[0] == "-i"}
    assert ("br-priv", "br-pub") in accepts and ("br-pub", "br-pub2") in accepts
    # the reject comes before any accept into the private bridge
    assert rules.index(rejects[0]) < min(rules.index(r) for r in rules
                                         if r[:2] == ["-i", "br-pub"] and r[3] == "br-priv")
    assert rules[-1] == ["-j", "RETURN"] and fw.chain == "HTCM-r1"
