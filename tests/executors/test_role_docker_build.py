"""Build the three role images with the real Docker engine and start their containers.

The images build FROM a real HTCondor base (the official images where a registry is
reachable; on test machines the local one from Debian trixie's HTCondor 23.9 packages,
:mod:`framework.condor.baseimage`) and run on what they ship: the entrypoint and
``/health`` on the image's own Python and HTCondor bindings, ``condor_master`` for real.

The engine is the session fixture ``docker_engine`` (tests/services.py): the running one,
or a ``dockerd`` it starts on a socket of its own; the image is built through the docker
SDK, and every docker CLI call here is pointed at that engine through ``DOCKER_HOST``.
Outside CI a missing engine or CLI skips; with ``CI=true`` it fails.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

from framework.model import IMAGE_ROLES, Role
from tests.services import unavailable, wait_for

pytestmark = pytest.mark.docker

TOKEN_VALUE = "eyJhbGciOiJIUzI1NiJ9.DOCKER-TEST-TOKEN-51ac.sig"
HEALTH_GET = (
    "import json, urllib.request, urllib.error\n"
    "try:\n"
    "    r = urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=10)\n"
    "    print(json.dumps([r.status, json.loads(r.read())]))\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(json.dumps([e.code, json.loads(e.read())]))\n"
)


def docker_host(client: Any) -> Optional[str]:
    """``DOCKER_HOST`` reaching the engine behind a docker SDK ``client`` (None: the SDK
    took it from the environment in a way the CLI reads too, e.g. over ssh)."""
    base = client.api.base_url
    if base.startswith("http+docker://"):   # unix socket or named pipe: path on the adapter
        adapter = client.api.get_adapter(base)
        if getattr(adapter, "socket_path", None):
            return "unix://" + adapter.socket_path
        if getattr(adapter, "npipe_path", None):
            return "npipe://" + adapter.npipe_path
        return None
    if base.startswith(("http://", "https://")):
        return "tcp://" + base.split("://", 1)[1]
    return None


@dataclass(frozen=True)
class DockerCLI:
    """The docker CLI with ``env`` (``DOCKER_HOST``) over the environment of the tests."""

    env: Dict[str, str]

    def __call__(self, *args: str, input: Optional[bytes] = None, timeout: float = 60,
                 env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``docker *args`` (``timeout`` in s); raise with its stderr when ``check`` and it fails."""
        proc = subprocess.run(["docker"] + list(args), input=input, capture_output=True,
                              timeout=timeout, env={**os.environ, **self.env, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError("docker %s failed (%d): %s" % (" ".join(args[:2]), proc.returncode,
                                                               proc.stderr.decode(errors="replace")))
        return proc


@pytest.fixture(scope="module")
def docker(docker_engine: Any) -> DockerCLI:
    """The docker CLI talking to the ``docker_engine`` fixture's engine.

    Checked by engine ID and data root: daemons on one host may share the ID (it comes
    from /etc/docker/key.json), not the data root.
    """
    if shutil.which("docker") is None:
        unavailable("the docker CLI is not on PATH (apt: docker.io or docker-ce-cli)")
    host = docker_host(docker_engine)
    cli = DockerCLI({"DOCKER_HOST": host} if host else {})
    seen = cli("info", "--format", "{{.ID}} {{.DockerRootDir}}", timeout=30).stdout.decode().strip()
    info = docker_engine.info()
    assert seen == "%s %s" % (info["ID"], info["DockerRootDir"]), (
        "the docker CLI (DOCKER_HOST=%s) reaches another engine than the docker_engine fixture"
        % host)
    return cli


@pytest.fixture
def container(role_images: dict, docker: DockerCLI, tmp_path: Path) -> Iterator[str]:
    """An executor whose collector does not exist (127.0.0.1:1), holding one token."""
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "exec.token").write_text(TOKEN_VALUE)
    name = "htcmesos-test-" + uuid.uuid4().hex[:8]
    config = base64.b64encode(b'use ROLE : Execute\nHTCMESOS_TASK_ID = "$ENV(HTCMESOS_TASK_ID)"\n'
                              b'COLLECTOR_HOST = 127.0.0.1:1\n').decode()
    try:  # a container created but not started must be removed too
        docker("run", "-d", "--name", name,
               "-v", "%s:/etc/condor/tokens-orig.d:ro" % tokens,
               "-e", "HTCMESOS_CONDOR_CONFIG_B64=" + config, "-e", "HTCMESOS_TASK_ID=exec.site-a.1",
               "-e", "HTCMESOS_MASTER_ADDRESS=127.0.0.1:1", role_images[Role.EXECUTOR])
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def health_from_inside(docker: DockerCLI, name: str, timeout_s: float = 30) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        out = docker("exec", name, "python3", "-c", HEALTH_GET, check=False)
        if out.returncode == 0:
            return json.loads(out.stdout)
        state = docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
        if state != b"true" or time.monotonic() > deadline:
            logs = docker("logs", name, check=False)
            raise AssertionError("no health answer: %s %s" % (out.stderr, logs.stderr))
        time.sleep(0.2)


@pytest.mark.parametrize("role", IMAGE_ROLES)
def test_image_config(role_images: dict, docker: DockerCLI, role: Role):
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}",
                               role_images[role]).stdout)
    assert config["Entrypoint"] == ["python3", "-m", "htcmesos_role.entrypoint"]
    assert not config.get("Cmd"), "the base image's CMD must not become the role argument"
    assert config["Healthcheck"]["Test"] == ["CMD", "python3", "-m", "htcmesos_role.probe"]
    assert "HTCMESOS_ROLE=%s" % role.value in config["Env"]
    assert set(config["ExposedPorts"]) == {"9618/tcp", "5000/tcp"}
    # what the entrypoint and /health need, from the image itself (no host mounts)
    out = docker("run", "--rm", "--entrypoint", "python3", role_images[role], "-c",
                 "import htcondor2, classad2, htcmesos_role.health; print(htcondor2.version())")
    assert b"$CondorVersion:" in out.stdout
    assert docker("run", "--rm", "--entrypoint", "id", role_images[role],
                  "submituser").returncode == 0


def test_container_runs_the_real_master_and_health_says_503_without_collector(
        container: str, docker: DockerCLI):
    status, body = health_from_inside(docker, container)
    assert status == 503
    assert body["ok"] is False and body["role"] == "executor"
    assert "collector" in body["detail"].lower()

    # the entrypoint exec'd the real condor_master -f as the main process (PID 1), which
    # started the startd
    assert docker("exec", container, "cat", "/proc/1/cmdline").stdout.split(b"\0")[:2] == \
        [b"condor_master", b"-f"]
    assert wait_for(lambda: b"condor_startd" in docker(
        "exec", container, "sh", "-c", "cat /proc/[0-9]*/comm", check=False).stdout, 30.0)
    modes = docker("exec", container, "stat", "-c", "%a %n", "/etc/condor/tokens.d",
                   "/etc/condor/tokens.d/exec.token").stdout.decode().split("\n")
    assert modes[:2] == ["700 /etc/condor/tokens.d", "600 /etc/condor/tokens.d/exec.token"]
    written = docker("exec", container, "cat", "/etc/condor/config.d/50-htcmesos.conf").stdout
    assert b"use ROLE : Execute" in written

    probe = docker("exec", container, "python3", "-m", "htcmesos_role.probe", check=False)
    assert probe.returncode == 1 and b"503" in probe.stdout

    logs = docker("logs", container)
    assert b"exec.token" in logs.stderr
    assert TOKEN_VALUE.encode() not in logs.stdout + logs.stderr


def test_container_without_credentials_exits_naming_the_problem(role_images: dict,
                                                                 docker: DockerCLI):
    config = base64.b64encode(b"use ROLE : Execute\n").decode()
    out = docker("run", "--rm", "-e", "HTCMESOS_CONDOR_CONFIG_B64=" + config,
                 role_images[Role.EXECUTOR], check=False, timeout=60)
    assert out.returncode == 1
    assert b"no HTCondor credentials for the executor role" in out.stderr
