"""TaskInfo for role tasks: Docker, USER network, labels, health check, no secret values,
credentials as fetcher URIs, the master at its fixed address."""
from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from framework.backends.credentials import FetchedCredentials, read_signing_key
from framework.backends.fetchserver import FETCH_DIR, CredentialServer
from framework.backends.mesos.tasks import build_task_info, new_task_id, parse_task_id
from framework.clock import ManualClock
from framework.condor.tokens import admin_key, decode, jwt_key
from framework.model import Role
from framework.spec import load_spec
from tests.conftest import EXAMPLES
from tests.condor_parse import condor_params

SECRET = "never-in-a-taskinfo-0xC0FFEE"
#: condor_token_create (HTCondor 23.9.6, Debian trixie) with the key file
#: "htcmesos-test-key\n": -identity executor@test.htcmesos.example -authz READ -key POOL
KNOWN_TOKEN = ("eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.eyJpYXQiOjE3OTYxOTU3ODAsImlzcyI6InRlc3Qu"
               "aHRjbWVzb3MuZXhhbXBsZSIsImp0aSI6IjQ5ZTQ4OTNiNzdjNzdmOGZkMTZlMzU2MDAxOGZmMGJiIiwi"
               "c2NvcGUiOiJjb25kb3I6XC9SRUFEIiwic3ViIjoiZXhlY3V0b3JAdGVzdC5odGNtZXNvcy5leGFtcGxl"
               "In0.J776NgoADo930Mu_dFNAOEyoSotguFjvGvEIsjyGnlE")


@pytest.fixture
def spec(tmp_path):
    key = tmp_path / "secrets" / "pool-signing-key"
    key.parent.mkdir()
    key.write_text(SECRET)
    text = (EXAMPLES / "two-sites.yaml").read_text()
    (tmp_path / "spec.yaml").write_text(text)
    return load_spec(tmp_path / "spec.yaml")


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def credentials(spec, clock):
    server = CredentialServer("127.0.0.1:0", None, clock.now).start()
    yield FetchedCredentials(spec, read_signing_key(spec.pool.signing_key_file), server,
                             clock.wall)
    server.stop()


def get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def env_of(info):
    return {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}


def test_task_ids_round_trip():
    tid = new_task_id("twosites", Role.EXECUTOR, "campus")
    assert parse_task_id(tid, "twosites") == (Role.EXECUTOR, "campus")
    assert parse_task_id(tid, "otherpool") is None
    assert parse_task_id("random-task", "twosites") is None
    assert new_task_id("p", Role.MASTER, "dc") != new_task_id("p", Role.MASTER, "dc")


def test_executor_task_info(spec):
    info = build_task_info(spec, Role.EXECUTOR, "campus", "twosites.executor.campus.abcdef",
                           "agent-7")
    assert info["task_id"] == {"value": "twosites.executor.campus.abcdef"}
    assert info["agent_id"] == {"value": "agent-7"}
    res = {r["name"]: r["scalar"]["value"] for r in info["resources"]}
    assert res == {"cpus": 8.0, "mem": 16384.0, "disk": 40960.0}
    assert info["command"]["shell"] is False
    c = info["container"]
    assert c["type"] == "DOCKER" and c["docker"]["network"] == "USER"
    assert c["docker"]["image"] == "htcmesos/executor:0.1"
    assert [n["name"] for n in c["network_infos"]] == ["calico-campus"]
    # no host path of the framework's machine: agents elsewhere do not have its files
    assert all(str(spec.pool.signing_key_file.parent) not in v["host_path"]
               for v in c["volumes"])
    assert {"container_path": "/cvmfs", "host_path": "/cvmfs", "mode": "RO"} in c["volumes"]
    labels = {l["key"]: l["value"] for l in info["labels"]["labels"]}
    assert labels == {"htcmesos.pool": "twosites", "htcmesos.role": "executor",
                      "htcmesos.site": "campus"}
    hc = info["health_check"]
    assert hc["type"] == "HTTP" and hc["http"] == {"port": 5000, "path": "/health"}
    assert info["kill_policy"]["grace_period"]["nanoseconds"] == 30 * 10**9
    env = env_of(info)
    assert env["HTCMESOS_MASTER_ADDRESS"] == "10.1.0.2" == spec.master_address
    # the container answers a hung collector before Mesos' check times out (10 s here)
    assert env["HTCMESOS_HEALTH_TIMEOUT"] == "6"
    assert env["HTCMESOS_TASK_ID"] == "twosites.executor.campus.abcdef"
    config = base64.b64decode(env["HTCMESOS_CONDOR_CONFIG_B64"]).decode()
    p = condor_params(config, ["CCB_ADDRESS", "HTCMESOS_SITE"])
    assert p["CCB_ADDRESS"] == "10.1.0.2:9618?sock=collector" and p["HTCMESOS_SITE"] == '"campus"'
    assert "uris" not in info["command"]     # no credential source given


def test_master_gets_fd_ulimit_and_its_fixed_address(spec):
    info = build_task_info(spec, Role.MASTER, "dc", "twosites.master.dc.abcdef", "a1")
    params = info["container"]["docker"]["parameters"]
    assert {"key": "ulimit", "value": "nofile=10240:10240"} in params
    assert {"key": "ip", "value": "10.1.0.2"} in params       # docker run --ip
    assert env_of(info)["HTCMESOS_MASTER_ADDRESS"] == "10.1.0.2"
    for role, site in [(Role.SUBMITTER, "dc"), (Role.EXECUTOR, "dc")]:
        other = build_task_info(spec, role, site, f"twosites.{role.value}.{site}.abcdef", "a1")
        assert not [p for p in other["container"]["docker"]["parameters"] if p["key"] == "ip"]


def test_host_ports_become_a_ports_resource(spec):
    info = build_task_info(spec, Role.SUBMITTER, "dc", "twosites.submitter.dc.abcdef", "a1",
                           ((31000, 31001),))
    ports = [r for r in info["resources"] if r["name"] == "ports"]
    assert ports[0]["ranges"]["range"] == [{"begin": 31000, "end": 31001}]


def test_credentials_are_fetched_once_from_single_use_urls(spec, credentials):
    """Only the master gets the key; the others a token for their role, each file once."""
    got = {}
    for role, site in [(Role.MASTER, "dc"), (Role.SUBMITTER, "dc"), (Role.EXECUTOR, "campus")]:
        task_id = f"twosites.{role.value}.{site}.abcdef"
        info = build_task_info(spec, role, site, task_id, "a", (), credentials)
        for uri in info["command"]["uris"]:
            assert uri["extract"] is False and uri["cache"] is False
            assert uri["output_file"].startswith(FETCH_DIR + "/")
            status, body = get(uri["value"])
            assert status == 200, body
            assert get(uri["value"])[0] == 404          # single use
            got.setdefault(role, {})[uri["output_file"]] = body
    # executors check the framework's drains with a key derived from the pool key
    admin = got[Role.EXECUTOR].pop(f"{FETCH_DIR}/passwords/HTCMESOS_EXECUTORS")
    assert admin == admin_key(SECRET.encode()) and SECRET.encode() not in admin
    got = {role: next(iter(files.items())) for role, files in got.items()}
    assert got[Role.MASTER] == (f"{FETCH_DIR}/passwords/POOL", SECRET.encode())
    for role, identity, scope in [(Role.SUBMITTER, "submitter", "ADVERTISE_SCHEDD"),
                                  (Role.EXECUTOR, "executor", "ADVERTISE_STARTD")]:
        name, body = got[role]
        assert name == f"{FETCH_DIR}/tokens/{identity}"
        header, payload = decode(body.decode())
        assert header["kid"] == "POOL" and header["alg"] == "HS256"
        assert payload["sub"] == f"{identity}@twosites.htcmesos.example"
        assert payload["iss"] == "twosites.htcmesos.example"
        assert scope in payload["scope"] and "ADMINISTRATOR" not in payload["scope"]
        assert "DAEMON" not in payload["scope"].split("/")
        assert SECRET.encode() not in body
    assert credentials.server.pending() == 0


def test_unfetched_credentials_are_revoked_and_expire(spec, credentials, clock):
    server = credentials.server
    a = build_task_info(spec, Role.SUBMITTER, "dc", "twosites.submitter.dc.aaaaaa", "a", (),
                        credentials)["command"]["uris"][0]["value"]
    b = build_task_info(spec, Role.SUBMITTER, "dc", "twosites.submitter.dc.bbbbbb", "a", (),
                        credentials)["command"]["uris"][0]["value"]
    assert server.pending() == 2
    credentials.release("twosites.submitter.dc.aaaaaa")   # e.g. the task already ended
    assert get(a)[0] == 404 and server.pending() == 1
    clock.advance(server.ttl_s + 1)
    assert get(b)[0] == 404 and server.pending() == 0
    assert get(server.base_url + "/c/")[0] == 404 and get(server.base_url + "/other")[0] == 404


def test_unreadable_key_file_is_a_clear_error(tmp_path):
    from framework.errors import BackendError
    with pytest.raises(BackendError, match="cannot read pool.signing_key_file"):
        read_signing_key(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BackendError, match="is empty"):
        read_signing_key(tmp_path / "empty")


def test_token_key_derivation_matches_htcondor():
    """A token made by condor_token_create 23.9.6 (key file: 'htcmesos-test-key\\n') is
    verified by our derivation of HTCondor's JWT key; a wrong key is not."""
    import hashlib
    import hmac
    head, body, sig = KNOWN_TOKEN.split(".")
    ours = base64.urlsafe_b64encode(hmac.new(jwt_key(b"htcmesos-test-key\n"),
                                             f"{head}.{body}".encode(),
                                             hashlib.sha256).digest()).rstrip(b"=").decode()
    assert ours == sig
    other = base64.urlsafe_b64encode(hmac.new(jwt_key(b"another-key\n"),
                                              f"{head}.{body}".encode(),
                                              hashlib.sha256).digest()).rstrip(b"=").decode()
    assert other != sig


def test_no_secret_value_anywhere_in_task_infos(spec, credentials):
    for role, site in [(Role.MASTER, "dc"), (Role.SUBMITTER, "dc"), (Role.EXECUTOR, "dc"),
                       (Role.EXECUTOR, "campus")]:
        info = build_task_info(spec, role, site, f"twosites.{role.value}.{site}.abcdef", "a",
                               (), credentials)
        text = json.dumps(info)
        assert SECRET not in text
        assert SECRET not in base64.b64decode(env_of(info)["HTCMESOS_CONDOR_CONFIG_B64"]).decode()


def test_credential_server_over_https(tmp_path, clock):
    """With a certificate, files are served only over TLS; a client that trusts the
    certificate fetches them, one that does not is refused."""
    import shutil
    import ssl
    import subprocess
    if shutil.which("openssl") is None:
        from tests.services import unavailable
        unavailable("openssl is not installed (apt: openssl)")   # a failure with CI=true
    cert, key = tmp_path / "c.crt", tmp_path / "c.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = CredentialServer("127.0.0.1:0", None, clock.now, cert_file=str(cert),
                              key_file=str(key)).start()
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        (uri,) = server.offer("t", {"tokens/executor": b"tls token"})
        url = uri["value"].replace("127.0.0.1", "localhost")
        untrusted = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.URLError):
            untrusted.open(url, timeout=5)
        trusted = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(cert))))
        with trusted.open(url, timeout=5) as resp:
            assert resp.read() == b"tls token"
    finally:
        server.stop()
