"""Shared fixtures for the role-container tests (executors/htcmesos_role).

The package is imported from ``executors/`` directly, as the images do with
``PYTHONPATH=/opt/htcmesos``. Helpers are fixtures so no test module imports another.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
EXECUTORS = REPO / "executors"
if str(EXECUTORS) not in sys.path:
    sys.path.insert(0, str(EXECUTORS))

POOL_SECRET = "pool-signing-key-VALUE-7f3a91c2"
TOKEN_SECRET = "eyJhbGciOiJIUzI1NiJ9.TOKEN-VALUE-0d84be.sig"

FAKE_CONDOR_MASTER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_MASTER_RECORD"], "w") as out:
    json.dump({{"argv": sys.argv, "pid": os.getpid(),
               "env": {{k: v for k, v in os.environ.items() if k.startswith("HTCMESOS_")}}}}, out)
sys.exit(int(os.environ.get("FAKE_MASTER_EXIT", "0")))
"""


def b64(text: str) -> str:
    """Base64 of UTF-8 text, as the framework puts it into HTCMESOS_CONDOR_CONFIG_B64."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def get_free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_our_health_server(pid: int) -> bool:
    try:
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return False
    return b"htcmesos_role.health" in cmdline


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        status = Path("/proc/%d/status" % pid).read_text()
    except OSError:
        return False
    state = [line for line in status.splitlines() if line.startswith("State:")]
    return not (state and "Z" in state[0].split()[1])


def stop_pid(pid: int, timeout_s: float = 5.0) -> None:
    """SIGTERM one health server this test started (by PID), wait for it to go."""
    if not _is_our_health_server(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.05)


@dataclass
class EntrypointResult:
    """What one entrypoint run left behind."""

    returncode: int
    stdout: str
    stderr: str
    pid: int
    record: Optional[dict]
    root: Path
    health_port: int
    health_pid: Optional[int] = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class RoleRoot:
    """A temporary ``HTCMESOS_ROOT`` with helpers to mount secrets and config."""

    root: Path
    started_health_pids: List[int] = field(default_factory=list)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def put(self, absolute: str, data: "bytes | str", mode: int = 0o644) -> Path:
        target = self.path(absolute)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        target.write_bytes(data)
        os.chmod(target, mode)
        return target

    def mount_pool_key(self) -> Path:
        return self.put("/etc/condor/passwords-orig.d/POOL", POOL_SECRET, 0o644)

    def mount_token(self, name: str = "executor.token") -> Path:
        return self.put("/etc/condor/tokens-orig.d/" + name, TOKEN_SECRET, 0o644)


@pytest.fixture
def role_root(tmp_path: Path) -> Iterator[RoleRoot]:
    """A fake container filesystem; health servers started in it are stopped after."""
    rr = RoleRoot(tmp_path / "root")
    rr.root.mkdir()
    yield rr
    for pid in rr.started_health_pids:
        stop_pid(pid)


@pytest.fixture
def run_entrypoint(role_root: RoleRoot, tmp_path: Path) -> Callable[..., EntrypointResult]:
    """Run ``python -m htcmesos_role.entrypoint`` as a real subprocess in ``role_root``.

    ``condor_master`` is replaced (HTCMESOS_EXEC) by a script that records argv, PID and
    the HTCMESOS_* environment. Output goes to files: the detached health server keeps
    the entrypoint's stdout/stderr open, so pipes would never reach EOF.
    """
    fake = tmp_path / "fake_condor_master"
    fake.write_text(FAKE_CONDOR_MASTER.format(python=sys.executable))
    fake.chmod(0o755)
    runs = [0]

    def run(args: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None,
            exec_cmd: Optional[str] = None) -> EntrypointResult:
        runs[0] += 1
        record = tmp_path / ("record-%d.json" % runs[0])
        out_path = tmp_path / ("stdout-%d" % runs[0])
        err_path = tmp_path / ("stderr-%d" % runs[0])
        port = get_free_port()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(EXECUTORS),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HTCMESOS_ROOT": str(role_root.root),
            "HTCMESOS_EXEC": exec_cmd if exec_cmd is not None else "%s -f" % fake,
            "HTCMESOS_HEALTH_PORT": str(port),
            "HTCMESOS_HEALTH_HOST": "127.0.0.1",
            "HTCMESOS_MASTER_ADDRESS": "127.0.0.1:1",
            "FAKE_MASTER_RECORD": str(record),
        }
        full_env.update(env or {})
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "htcmesos_role.entrypoint"] + list(args or []),
                env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=str(tmp_path),
            )
            code = proc.wait(timeout=30)
        pid_file = role_root.path("/run/htcmesos/health.pid")
        health_pid = int(pid_file.read_text()) if pid_file.exists() else None
        if health_pid is not None and health_pid not in role_root.started_health_pids:
            role_root.started_health_pids.append(health_pid)
        return EntrypointResult(
            returncode=code,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
            pid=proc.pid,
            record=json.loads(record.read_text()) if record.exists() else None,
            root=role_root.root,
            health_port=port,
            health_pid=health_pid,
        )

    return run


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port that was free when the test started."""
    return get_free_port()


@pytest.fixture
def executors_dir() -> Path:
    """The ``executors/`` folder (Docker build context, PYTHONPATH of the package)."""
    return EXECUTORS


@pytest.fixture(name="process_alive")
def process_alive_fixture() -> Callable[[int], bool]:
    """:func:`process_alive` for tests."""
    return process_alive


@pytest.fixture
def secret_values() -> List[str]:
    """Values that must never appear in any output."""
    return [POOL_SECRET, TOKEN_SECRET]


@pytest.fixture
def b64_config() -> Callable[[str], str]:
    return b64
