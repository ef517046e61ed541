"""Build the executor Dockerfile with the real Docker engine and start the container.

No registry is reachable, so the official base image is replaced by a local stand-in
(:func:`framework.sim.images.build_role_image`): ``htcondor/execute:htcmesos-test-…``, a
rootfs of only the ``bin lib lib64 sbin → usr/*`` symlinks plus a fake ``condor_master``
(records argv, then sleeps) first on its ``PATH``, run with the host's ``/usr`` mounted
read-only so the host python3 runs the entrypoint. The stand-in carries the official
images' ``CMD`` to prove our ENTRYPOINT resets it.

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
from typing import Any, Dict, Iterator, List, Optional

import pytest

from tests.services import unavailable

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
def executor_image(executor_role_image: str) -> str:
    """The executor role image (built once per session, tests/services.py)."""
    return executor_role_image


def _bindings_mount() -> List[str]:
    """Mount the test venv's site-packages so the container's python finds htcondor2."""
    try:
        import htcondor2
    except ImportError:
        return []
    site = Path(htcondor2.__file__).resolve().parent.parent
    return ["-v", "%s:/opt/pybindings:ro" % site, "-e", "PYTHONPATH=/opt/htcmesos:/opt/pybindings"]


@pytest.fixture
def container(executor_image: str, docker: DockerCLI, tmp_path: Path) -> Iterator[str]:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "exec.token").write_text(TOKEN_VALUE)
    name = "htcmesos-test-" + uuid.uuid4().hex[:8]
    config = base64.b64encode(b'use ROLE : Execute\nHTCMESOS_TASK_ID = "$ENV(HTCMESOS_TASK_ID)"\n').decode()
    try:  # a container created but not started must be removed too
        docker("run", "-d", "--name", name, "-v", "/usr:/usr:ro",
               "-v", "%s:/etc/condor/tokens-orig.d:ro" % tokens, *_bindings_mount(),
               "-e", "HTCMESOS_CONDOR_CONFIG_B64=" + config, "-e", "HTCMESOS_TASK_ID=exec.site-a.1",
               "-e", "HTCMESOS_MASTER_ADDRESS=127.0.0.1:1", executor_image)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def health_from_inside(docker: DockerCLI, name: str, timeout_s: float = 15) -> list:
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


def test_image_config(executor_image: str, docker: DockerCLI):
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", executor_image).stdout)
    assert config["Entrypoint"] == ["python3", "-m", "htcmesos_role.entrypoint"]
    assert not config.get("Cmd"), "the base image's CMD must not become the role argument"
    assert config["Healthcheck"]["Test"] == ["CMD", "python3", "-m", "htcmesos_role.probe"]
    assert "HTCMESOS_ROLE=executor" in config["Env"]
    assert set(config["ExposedPorts"]) == {"9618/tcp", "5000/tcp"}


def test_container_starts_and_health_says_503_without_collector(container: str, docker: DockerCLI):
    status, body = health_from_inside(docker, container)
    assert status == 503
    assert body["ok"] is False and body["role"] == "executor"
    assert "collector" in body["detail"].lower()

    # the entrypoint exec'd condor_master -f as the main process (PID 1)
    assert docker("exec", container, "cat", "/tmp/condor_master.argv").stdout.split()[1:] == [b"-f"]
    assert docker("exec", container, "cat", "/proc/1/cmdline").stdout.split(b"\0")[0] == b"sleep"
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
