"""Real services for tests: ZooKeeper, etcd and a Docker engine on loopback.

Session-scoped pytest fixtures (registered in ``tests/conftest.py``):

- ``zookeeper`` → :class:`ZooKeeperServer` (``.hosts`` "127.0.0.1:PORT", ``.url(path)``,
  ``.stop()`` / ``.start()`` for failure tests, ``.ruok()``);
- ``etcd`` → :class:`EtcdServer` (``.url`` "http://127.0.0.1:PORT", ``.healthy()``);
- ``docker_engine`` → a ``docker.DockerClient`` (an engine that already answers is used
  as is and never stopped; otherwise ``dockerd`` is started in a temp dir, overlay2 or
  else vfs, and stopped by PID at the end);
- ``tiny_image`` → tag of the few-KiB test image (:mod:`framework.sim.images`);
- ``role_images`` → the real role images (role → tag), on a real HTCondor base.

Each process binds 127.0.0.1 only, on a free port, and is stopped by its PID. Readiness
is a polled condition with a deadline, never a fixed sleep. Outside CI a missing binary
or a service that does not come up skips the test with a message naming what is missing;
with ``CI=true`` it is a test error (``pytest.fail``), never a skip.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
ZOOKEEPER_READY_S = 30.0
ETCD_READY_S = 20.0
DOCKERD_READY_S = 60.0
#: overlay2 first; vfs copies the whole image for every container (slow, but works anywhere)
STORAGE_DRIVERS = ("overlay2", "vfs")
STOP_WAIT_S = 15.0
TINY_IMAGE_TAG = "htcmesos-test/tiny:latest"


# -- helpers -----------------------------------------------------------------------------

def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(what: str) -> None:
    """Skip (outside CI) or fail (CI=true) because ``what`` is missing; never returns."""
    if in_ci():
        pytest.fail(f"CI=true and {what}", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05,
             alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``condition`` until true (→ True), ``timeout_s`` passes or ``alive`` is false."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return True
        except Exception:       # noqa: BLE001 - "not yet" in any form
            pass
        if time.monotonic() >= deadline or not alive():
            return False
        time.sleep(interval_s)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _stop_pid(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = STOP_WAIT_S) -> None:
    """Signal exactly this child by PID, wait, and SIGKILL it if it will not go."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=wait_s)
    except ProcessLookupError:
        pass


def _spawn(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab")           # noqa: SIM115 - closed with the process
    try:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()


def _no_proxy_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout_s) as resp:
        return resp.status, resp.read()


# -- ZooKeeper ---------------------------------------------------------------------------

def four_letter_word(host: str, port: int, word: str = "ruok", timeout_s: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command and return the whole answer."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


@dataclass
class ZooKeeperServer:
    """A standalone ZooKeeper 3.8 on ``address``:``port`` with its data in ``workdir``."""

    workdir: Path
    port: int = field(default_factory=free_port)
    started_in_s: float = 0.0
    _proc: subprocess.Popen | None = None
    #: where it listens: loopback, or (containers must reach it) the gateway address of a
    #: Docker network the test created
    address: str = "127.0.0.1"

    @property
    def hosts(self) -> str:
        return f"{self.address}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"zk://{self.hosts}/{path.lstrip('/')}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def ruok(self) -> bool:
        try:
            return four_letter_word(self.address, self.port, "ruok") == "imok"
        except OSError:
            return False

    def _write_config(self) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.workdir / "zoo.cfg").write_text(
            f"tickTime=2000\ndataDir={data}\nclientPort={self.port}\n"
            f"clientPortAddress={self.address}\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,stat,srvr,envi\nmaxClientCnxns=0\n")

    def start(self, timeout_s: float = ZOOKEEPER_READY_S) -> None:
        """Start (or restart after :meth:`stop`) on the same port and data; wait for imok."""
        if self.pid is not None:
            return
        java = shutil.which("java")
        missing = [what for what, gone in (
            ("`java` is not on PATH (apt: default-jre-headless)", java is None),
            (f"{ZOOKEEPER_JAR} is missing (apt: zookeeper)", not os.path.exists(ZOOKEEPER_JAR)),
        ) if gone]
        if missing:
            unavailable("ZooKeeper cannot start: " + "; ".join(missing))
        self._write_config()
        argv = [java, "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
                "-cp", f"{self.workdir}:{ZOOKEEPER_JAR}",
                "org.apache.zookeeper.server.ZooKeeperServerMain", "zoo.cfg"]
        begin = time.monotonic()
        self._proc = _spawn(argv, self.workdir / "zookeeper.log", cwd=self.workdir)
        proc = self._proc
        if not wait_for(self.ruok, timeout_s, alive=lambda: proc.poll() is None):
            code = proc.poll()
            _stop_pid(proc)
            unavailable(f"ZooKeeper did not answer imok on {self.hosts} within {timeout_s:g} s"
                        f" (exit code {code}); log:\n{_tail(self.workdir / 'zookeeper.log')}")
        self.started_in_s = time.monotonic() - begin

    def stop(self) -> None:
        """Stop the server by PID (data kept, so :meth:`start` brings the same tree back)."""
        if self._proc is not None:
            _stop_pid(self._proc)
            wait_for(lambda: not self.ruok(), 5.0)


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeperServer]:
    with tempfile.TemporaryDirectory(prefix="htcm-zk-") as tmp:
        server = ZooKeeperServer(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


# -- etcd --------------------------------------------------------------------------------

@dataclass
class EtcdServer:
    """A single-member etcd 3.4 with client and peer URLs on 127.0.0.1."""

    workdir: Path
    port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    started_in_s: float = 0.0
    _proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def healthy(self) -> bool:
        try:
            status, body = _no_proxy_get(self.url + "/health")
            return status == 200 and json.loads(body).get("health") == "true"
        except (OSError, ValueError):
            return False

    def start(self, timeout_s: float = ETCD_READY_S) -> None:
        if self.pid is not None:
            return
        etcd = shutil.which("etcd")
        if etcd is None:
            unavailable("etcd is not on PATH (apt: etcd-server)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [etcd, "--name", "t", "--data-dir", str(self.workdir / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"t={peer}", "--log-level", "warn"]
        begin = time.monotonic()
        self._proc = _spawn(argv, self.workdir / "etcd.log")
        proc = self._proc
        if not wait_for(self.healthy, timeout_s, alive=lambda: proc.poll() is None):
            code = proc.poll()
            _stop_pid(proc)
            unavailable(f"etcd at {self.url} was not healthy within {timeout_s:g} s "
                        f"(exit code {code}); log:\n{_tail(self.workdir / 'etcd.log')}")
        self.started_in_s = time.monotonic() - begin

    def stop(self) -> None:
        if self._proc is not None:
            _stop_pid(self._proc)


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdServer]:
    with tempfile.TemporaryDirectory(prefix="htcm-etcd-") as tmp:
        server = EtcdServer(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


# -- Docker engine -----------------------------------------------------------------------

def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (so we never delete through a live mount)."""
    prefix = str(path.resolve())
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            for line in info:
                point = line.split()[4].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    except OSError:
        pass
    return found


@dataclass
class DockerEngine:
    """A Docker engine for tests: the one already running, or a ``dockerd`` we started."""

    client: object                       # docker.DockerClient
    base_url: str
    started_by_us: bool
    started_in_s: float = 0.0
    _proc: subprocess.Popen | None = None
    _workdir: Path | None = None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass
        if self._proc is not None:
            _stop_pid(self._proc, wait_s=30.0)
        if self._workdir is not None and not _mounts_under(self._workdir):
            shutil.rmtree(self._workdir, ignore_errors=True)


def existing_engine():
    """A client for an engine that answers already (``DOCKER_HOST`` or the default socket)."""
    import docker
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception:   # noqa: BLE001 - any failure means "no engine answers"
        return None


def start_docker_engine(timeout_s: float = DOCKERD_READY_S) -> DockerEngine:
    """Use the running engine, or start ``dockerd`` (overlay2, else vfs) in a temp dir."""
    try:
        import docker  # noqa: F401
    except ImportError:
        unavailable("the docker Python SDK is not installed (pip install 'docker>=7')")
    client = existing_engine()
    if client is not None:
        return DockerEngine(client, client.api.base_url, started_by_us=False)
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        unavailable("no Docker engine answers and `dockerd` is not on PATH (apt: docker.io)")
    if os.geteuid() != 0:
        unavailable("no Docker engine answers and starting dockerd needs root")
    failures = []
    for driver in STORAGE_DRIVERS:
        engine = _start_dockerd(dockerd, driver, timeout_s, failures)
        if engine is not None:
            return engine
    unavailable("dockerd did not start with any storage driver:\n" + "\n".join(failures))
    raise AssertionError("unreachable")


def _start_dockerd(dockerd: str, driver: str, timeout_s: float,
                   failures: list[str]) -> DockerEngine | None:
    import docker

    workdir = Path(tempfile.mkdtemp(prefix="htcm-d-", dir="/tmp"))  # short: socket paths
    sock = workdir / "docker.sock"
    argv = [dockerd, f"--storage-driver={driver}", f"--data-root={workdir / 'data'}",
            f"--exec-root={workdir / 'x'}", f"--host=unix://{sock}",
            f"--pidfile={workdir / 'docker.pid'}"]
    begin = time.monotonic()
    proc = _spawn(argv, workdir / "dockerd.log")
    base_url = f"unix://{sock}"
    clients: list = []

    def answers() -> bool:               # the SDK asks the API version when constructed
        clients.append(docker.DockerClient(base_url=base_url, timeout=120))
        return clients[-1].ping()

    if wait_for(answers, timeout_s, interval_s=0.1, alive=lambda: proc.poll() is None):
        return DockerEngine(clients[-1], base_url, started_by_us=True,
                            started_in_s=time.monotonic() - begin, _proc=proc, _workdir=workdir)
    code = proc.poll()
    _stop_pid(proc, wait_s=30.0)
    failures.append(f"--storage-driver={driver}: no answer on {base_url} within "
                    f"{timeout_s:g} s (exit code {code}); log:\n{_tail(workdir / 'dockerd.log')}")
    if not _mounts_under(workdir):
        shutil.rmtree(workdir, ignore_errors=True)
    return None


@pytest.fixture(scope="session")
def docker_service() -> Iterator[DockerEngine]:
    """The :class:`DockerEngine` (client, whether we started it, start time)."""
    engine = start_docker_engine()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def docker_engine(docker_service: DockerEngine):
    """A ``docker.DockerClient`` for a working engine."""
    return docker_service.client


@pytest.fixture(scope="session")
def tiny_image(docker_engine) -> str:
    """Tag of the tiny test image (run it with ``/usr`` mounted read-only from the host)."""
    from framework.sim.images import build_test_image
    build_test_image(docker_engine, TINY_IMAGE_TAG)
    return TINY_IMAGE_TAG


def free_docker_cidr(client: Any, second_octet: int) -> str:
    """A /24 in 10.<second_octet>.0.0/16 that no Docker network on this engine overlaps."""
    import ipaddress
    import random

    used = []
    for net in client.networks.list():
        for conf in (net.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                used.append(ipaddress.ip_network(conf.get("Subnet", ""), strict=False))
            except ValueError:
                pass
    thirds = list(range(256))
    random.shuffle(thirds)
    for third in thirds:
        cand = ipaddress.ip_network(f"10.{second_octet}.{third}.0/24")
        if not any(cand.overlaps(u) for u in used if u.version == 4):
            return str(cand)
    pytest.fail(f"no free /24 in 10.{second_octet}.0.0/16 on this engine")


@pytest.fixture(scope="session")
def role_images(docker_engine: Any) -> dict:
    """The three role images on a real HTCondor base (the official images where a
    registry is reachable, else the local trixie base), built once and reused while the
    executors/ folder and the base are unchanged: role → tag."""
    from framework.condor.images import build_role_images, default_tags

    try:
        built = build_role_images(docker_engine, "auto", default_tags())
    except Exception as exc:  # noqa: BLE001 - mmdebstrap missing, archive unreachable, …
        unavailable(f"cannot build the role images: {exc}")
    return dict(built.tags)
