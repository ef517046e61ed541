"""Run Mesos Docker TaskInfos as real containers on a local Docker engine.

:class:`DockerTaskRunner` is the :class:`~framework.sim.runner.TaskRunner` of emulated
agents in Docker mode. It does what the Mesos Docker containerizer and executor do, on one
engine shared by all emulated agents:

- ``container.docker.image`` (never pulled: it must exist locally), the command
  (``shell: true`` → entrypoint ``/bin/sh`` with ``-c value``; ``shell: false`` keeps the
  image entrypoint and passes ``value`` (if any) then ``arguments``), environment
  variables, volumes (``host_path`` → ``container_path``, ``RO``/``RW``), a per-task
  sandbox bound at ``/mnt/mesos/sandbox``, ``cpus`` → cpu shares, ``mem`` → memory limit,
  docker ``parameters`` (keys in :data:`PARAMETERS`; any other key fails the task);
- network ``USER``: ``network_infos[0].name`` becomes a Docker bridge network of that
  name with the agent's CIDR (``AgentInfo.networks``), created on first use (a stand-in
  for Calico); ``BRIDGE``/``HOST``/``NONE`` map to Docker's own modes;
- reports STARTING → RUNNING (with the container IP) → FINISHED / FAILED; health changes
  as RUNNING with ``healthy`` set; KILLING → KILLED on kill, and after
  ``consecutive_failures`` failed health checks (with ``healthy=false``, as Mesos does).
  A task that cannot be translated (bad parameter, unknown network) goes straight from
  STAGING to FAILED; a Docker error after STARTING is FAILED with
  ``REASON_CONTAINER_LAUNCH_FAILED`` and Docker's message.

Threads: one watcher (lists this runner's containers every ``poll_s`` s to see exits, and
schedules health checks) plus two small pools (launch/kill work; health probes). Reports
for one task are made in order under that task's lock; ``launch``/``kill``/``lose_agent``
only queue work, so they return at once and never wait on a lock held during a report.
Durations are seconds; ``clock`` is monotonic.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import logging
import math
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import docker
import docker.errors
import docker.types

from ..mesos.protocol import TaskState
from .runner import AgentInfo, StatusSink, TaskReport, TaskRunner

log = logging.getLogger(__name__)

OWNER_LABEL = "htcmesos.emulator"      # "1" on every container/network an emulator made
RUNNER_LABEL = "htcmesos.runner"       # id of the DockerTaskRunner that made it
AGENT_LABEL = "htcmesos.agent_id"
TASK_LABEL = "htcmesos.task_id"
SANDBOX = "/mnt/mesos/sandbox"
LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
HEALTH_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
LOG_LINES = 10


class LaunchError(Exception):
    """The TaskInfo cannot be run; ``str()`` is the TASK_FAILED message."""

    def __init__(self, message: str, reason: str | None = LAUNCH_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


# -- TaskInfo → Docker -------------------------------------------------------------------

def _bool(key: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("", "true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise LaunchError(f"docker parameter {key!r}: {value!r} is not a boolean")


def _pair(key: str, value: str, sep: str = "=") -> tuple[str, str]:
    name, found, rest = value.partition(sep)
    if not found or not name:
        raise LaunchError(f"docker parameter {key!r}: {value!r} is not NAME{sep}VALUE")
    return name, rest


def _ulimit(key: str, value: str) -> docker.types.Ulimit:
    name, limits = _pair(key, value)
    soft, _, hard = limits.partition(":")
    try:
        return docker.types.Ulimit(name=name, soft=int(soft), hard=int(hard or soft))
    except ValueError:
        raise LaunchError(f"docker parameter {key!r}: {value!r} is not NAME=SOFT[:HARD]") from None


def _volume(key: str, value: str) -> str:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or not parts[1].startswith("/"):
        raise LaunchError(f"docker parameter {key!r}: {value!r} is not HOST:/PATH[:ro|rw]")
    return value


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LaunchError(f"docker parameter {key!r}: {value!r} is not an integer") from None


def _add(kw: dict[str, Any], name: str, item: Any) -> None:
    kw.setdefault(name, []).append(item)


def _put(kw: dict[str, Any], name: str, pair: tuple[str, str]) -> None:
    kw.setdefault(name, {})[pair[0]] = pair[1]


#: Docker ``parameters`` keys (``--key=value`` of ``docker run``) and how each is applied to
#: the SDK's ``containers.create`` keywords. ``_net`` keys feed the network endpoint.
PARAMETERS: dict[str, Callable[[dict[str, Any], str, str], None]] = {
    "volume": lambda kw, k, v: _add(kw, "volumes", _volume(k, v)),
    "env": lambda kw, k, v: _put(kw, "environment", _pair(k, v)),
    "label": lambda kw, k, v: _put(kw, "labels", (v.partition("=")[0], v.partition("=")[2])),
    "ulimit": lambda kw, k, v: _add(kw, "ulimits", _ulimit(k, v)),
    "cap-add": lambda kw, k, v: _add(kw, "cap_add", v),
    "cap-drop": lambda kw, k, v: _add(kw, "cap_drop", v),
    "user": lambda kw, k, v: kw.__setitem__("user", v),
    "workdir": lambda kw, k, v: kw.__setitem__("working_dir", v),
    "hostname": lambda kw, k, v: kw.__setitem__("hostname", v),
    "add-host": lambda kw, k, v: _put(kw, "extra_hosts", _pair(k, v, ":")),
    "sysctl": lambda kw, k, v: _put(kw, "sysctls", _pair(k, v)),
    "security-opt": lambda kw, k, v: _add(kw, "security_opt", v),
    "tmpfs": lambda kw, k, v: _put(kw, "tmpfs", (v.partition(":")[0], v.partition(":")[2])),
    "shm-size": lambda kw, k, v: kw.__setitem__("shm_size", v),
    "memory": lambda kw, k, v: kw.__setitem__("mem_limit", v),
    "cpu-shares": lambda kw, k, v: kw.__setitem__("cpu_shares", _int(k, v)),
    "pids-limit": lambda kw, k, v: kw.__setitem__("pids_limit", _int(k, v)),
    "init": lambda kw, k, v: kw.__setitem__("init", _bool(k, v)),
    "read-only": lambda kw, k, v: kw.__setitem__("read_only", _bool(k, v)),
    "device": lambda kw, k, v: _add(kw, "devices", v),
    "network-alias": lambda kw, k, v: _add(kw, "_aliases", v),
    "ip": lambda kw, k, v: kw.__setitem__("_ip", v),
}
_ALIASES = {"v": "volume", "e": "env", "l": "label", "u": "user", "w": "workdir",
            "h": "hostname", "m": "memory", "net-alias": "network-alias"}


@dataclass(frozen=True)
class ContainerPlan:
    """What to create: SDK keywords plus the network to attach (mode or USER name)."""

    image: str
    kwargs: dict[str, Any]
    network_mode: str                  # "user", "bridge", "host" or "none"
    user_network: str | None = None    # Mesos network name (USER)
    ipv4_address: str | None = None
    aliases: tuple[str, ...] = ()


def _env_value(var: dict[str, Any]) -> str:
    kind = var.get("type", "VALUE")
    if kind == "VALUE":
        return str(var.get("value", ""))
    secret = var.get("secret") or {}
    if kind == "SECRET" and secret.get("type", "VALUE") == "VALUE":
        return base64.b64decode(secret.get("value", {}).get("data", "")).decode("utf-8")
    raise LaunchError(f"environment variable {var.get('name')!r}: only VALUE variables and "
                      "SECRET values are supported (no secret references)")


def _volumes(volumes: list[dict[str, Any]], sandbox: Path) -> list[str]:
    binds = []
    for vol in volumes:
        target = vol.get("container_path", "")
        if not target.startswith("/"):
            target = f"{SANDBOX}/{target}"
        mode = {"RO": "ro", "RW": "rw"}.get(vol.get("mode", "RW"))
        if mode is None:
            raise LaunchError(f"volume {target}: mode {vol.get('mode')!r} is not RO or RW")
        source = vol.get("source") or {}
        kind = source.get("type")
        if vol.get("host_path"):
            host = vol["host_path"]
        elif kind == "HOST_PATH":
            host = source.get("host_path", {}).get("path", "")
        elif kind == "DOCKER_VOLUME":
            host = source.get("docker_volume", {}).get("name", "")
        elif kind == "SANDBOX_PATH":
            host = source.get("sandbox_path", {}).get("path", "")
        else:
            raise LaunchError(f"volume {target}: source type {kind!r} is not supported")
        if not host:
            raise LaunchError(f"volume {target}: no host path or volume name")
        if kind != "DOCKER_VOLUME" and not host.startswith("/"):
            host = str(sandbox / host)
        binds.append(f"{host}:{target}:{mode}")
    return binds


def plan_container(task_info: dict[str, Any], *, name: str, labels: dict[str, str],
                   sandbox: Path, extra_volumes: tuple[str, ...] = (),
                   image_map: dict[str, str] | None = None,
                   apply_limits: bool = True) -> ContainerPlan:
    """Translate a Docker TaskInfo into a :class:`ContainerPlan`; raise :class:`LaunchError`."""
    container = task_info.get("container") or {}
    if container.get("type", "DOCKER") != "DOCKER" or "docker" not in container:
        raise LaunchError(f"container type {container.get('type')!r} is not DOCKER "
                          "(this runner runs Docker tasks only)")
    dinfo = container["docker"] or {}
    image = dinfo.get("image")
    if not image:
        raise LaunchError("container.docker.image is missing")
    image = (image_map or {}).get(image, image)
    command = task_info.get("command") or {}
    kw: dict[str, Any] = {"name": name}
    if command.get("shell", True):
        if not command.get("value"):
            raise LaunchError("command.shell is true but command.value is empty")
        kw["entrypoint"], kw["command"] = ["/bin/sh"], ["-c", command["value"]]
    else:
        argv = ([command["value"]] if command.get("value") else []) + [
            str(a) for a in command.get("arguments", [])]
        if argv:
            kw["command"] = argv
    env = {"MESOS_SANDBOX": SANDBOX, "MESOS_CONTAINER_NAME": name,
           "MESOS_TASK_ID": str(task_info.get("task_id", {}).get("value", ""))}
    for var in (command.get("environment") or {}).get("variables", []):
        env[str(var["name"])] = _env_value(var)
    kw["environment"] = env
    kw["volumes"] = [f"{sandbox}:{SANDBOX}:rw", *extra_volumes,
                     *_volumes(container.get("volumes", []), sandbox)]
    kw["labels"] = {str(lb["key"]): str(lb.get("value", ""))
                    for lb in (task_info.get("labels") or {}).get("labels", [])}
    if container.get("hostname"):
        kw["hostname"] = container["hostname"]
    if dinfo.get("privileged"):
        kw["privileged"] = True
    if apply_limits:
        for res in task_info.get("resources", []):
            value = res.get("scalar", {}).get("value")
            if res.get("name") == "cpus" and value:
                kw["cpu_shares"] = max(2, int(float(value) * 1024))
            elif res.get("name") == "mem" and value:
                kw["mem_limit"] = f"{max(6, int(float(value)))}m"
    for param in dinfo.get("parameters", []):
        key = str(param.get("key", "")).lstrip("-")
        handler = PARAMETERS.get(_ALIASES.get(key, key))
        if handler is None:
            raise LaunchError(f"unsupported docker parameter {key!r} "
                              f"(supported: {', '.join(sorted(PARAMETERS))})")
        handler(kw, key, str(param.get("value", "")))
    kw["labels"].update(labels)         # ours last: a task cannot hide from cleanup
    ip, aliases = kw.pop("_ip", None), tuple(kw.pop("_aliases", ()))
    mode = str(dinfo.get("network", "HOST")).lower()
    if mode == "user":
        infos = container.get("network_infos") or []
        if len(infos) != 1 or not infos[0].get("name"):
            raise LaunchError("network USER needs exactly one network_infos entry with a name")
        return ContainerPlan(image, kw, "user", str(infos[0]["name"]), ip, aliases)
    if mode not in ("bridge", "host", "none"):
        raise LaunchError(f"docker network {dinfo.get('network')!r} is not supported")
    if mode == "bridge":
        ports = {}
        for pm in dinfo.get("port_mappings", []):
            ports[f"{pm['container_port']}/{pm.get('protocol', 'tcp')}"] = (
                "127.0.0.1", int(pm["host_port"]))
        if ports:
            kw["ports"] = ports
    kw["network_mode"] = mode
    return ContainerPlan(image, kw, mode, None, ip, aliases)


# -- health checks -----------------------------------------------------------------------

@dataclass(frozen=True)
class HealthCheck:
    """A Mesos ``HealthCheck`` (defaults as in mesos.proto)."""

    kind: str                         # HTTP, TCP or COMMAND
    port: int = 0
    path: str = "/"
    scheme: str = "http"
    statuses: tuple[int, ...] = ()
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    delay_s: float = 15.0
    interval_s: float = 10.0
    timeout_s: float = 20.0
    max_failures: int = 3             # 0: never kill
    grace_s: float = 10.0

    @classmethod
    def parse(cls, hc: dict[str, Any]) -> "HealthCheck":
        kind = hc.get("type") or ("COMMAND" if "command" in hc else "HTTP" if "http" in hc
                                  else "TCP" if "tcp" in hc else "")
        timing = dict(delay_s=float(hc.get("delay_seconds", 15.0)),
                      interval_s=float(hc.get("interval_seconds", 10.0)),
                      timeout_s=float(hc.get("timeout_seconds", 20.0)),
                      max_failures=int(hc.get("consecutive_failures", 3)),
                      grace_s=float(hc.get("grace_period_seconds", 10.0)))
        if kind == "HTTP":
            http = hc.get("http") or {}
            return cls("HTTP", port=int(http["port"]), path=http.get("path", "/") or "/",
                       scheme=http.get("scheme", "http"),
                       statuses=tuple(int(s) for s in http.get("statuses", [])), **timing)
        if kind == "TCP":
            return cls("TCP", port=int((hc.get("tcp") or {})["port"]), **timing)
        if kind == "COMMAND":
            cmd = hc.get("command") or {}
            if cmd.get("shell", True):
                argv: tuple[str, ...] = ("sh", "-c", str(cmd.get("value", "")))
            else:
                argv = tuple(([cmd["value"]] if cmd.get("value") else [])
                             + [str(a) for a in cmd.get("arguments", [])])
            env = tuple((str(v["name"]), _env_value(v))
                        for v in (cmd.get("environment") or {}).get("variables", []))
            if not argv:
                raise LaunchError("health_check.command has no value or arguments")
            return cls("COMMAND", argv=argv, env=env, **timing)
        raise LaunchError(f"health_check type {kind!r} is not HTTP, TCP or COMMAND")


def probe(api: docker.APIClient, check: HealthCheck, ip: str | None,
          container_id: str) -> tuple[bool, str]:
    """Run one check from the host (HTTP/TCP to ``ip``) or by ``docker exec``."""
    host = ip or "127.0.0.1"
    try:
        if check.kind == "HTTP":
            if check.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, check.port, timeout=check.timeout_s,
                    context=ssl._create_unverified_context())  # noqa: S323 - Mesos does not verify
            else:
                conn = http.client.HTTPConnection(host, check.port, timeout=check.timeout_s)
            try:
                conn.request("GET", check.path)
                status = conn.getresponse().status
            finally:
                conn.close()
            ok = status in check.statuses if check.statuses else 200 <= status < 400
            return ok, f"HTTP GET {host}:{check.port}{check.path} → {status}"
        if check.kind == "TCP":
            with socket.create_connection((host, check.port), timeout=check.timeout_s):
                return True, f"TCP {host}:{check.port} connected"
        exec_id = api.exec_create(container_id, list(check.argv), environment=dict(check.env))["Id"]
        api.exec_start(exec_id, detach=True)
        deadline = time.monotonic() + check.timeout_s
        while time.monotonic() < deadline:
            info = api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                code = info["ExitCode"]
                return code == 0, f"command {list(check.argv)} exited with status {code}"
            time.sleep(0.05)
        return False, f"command {list(check.argv)} timed out after {check.timeout_s:g} s"
    except (OSError, http.client.HTTPException, docker.errors.DockerException) as exc:
        return False, f"{check.kind} check failed: {exc}"


# -- the runner --------------------------------------------------------------------------

@dataclass(eq=False)
class _Task:
    agent: AgentInfo
    task_id: str
    info: dict[str, Any]
    sink: StatusSink
    name: str
    sandbox: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    state: TaskState = TaskState.STAGING
    phase: str = "launching"          # launching → running → done
    container_id: str | None = None
    network: str | None = None        # Docker network whose IP we report
    ip: str | None = None
    killing: bool = False
    silent: bool = False              # agent lost / runner closed: no more reports
    check: HealthCheck | None = None
    running_at: float = 0.0
    next_check: float = math.inf
    probing: bool = False
    failures: int = 0
    ever_healthy: bool = False
    healthy: bool | None = None


def _slug(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if slug != text or len(slug) > limit:
        slug = slug[:limit] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return slug


def _explain(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _same_subnet(net: Any, cidr: str) -> bool:
    want = ipaddress.ip_network(cidr, strict=False)
    for conf in (net.attrs.get("IPAM") or {}).get("Config") or []:
        try:
            if ipaddress.ip_network(conf.get("Subnet", ""), strict=False) == want:
                return True
        except ValueError:
            continue
    return False


class DockerTaskRunner(TaskRunner):
    """Runs TaskInfos of emulated agents as containers on the engine behind ``client``.

    ``extra_volumes``: binds (``"host:container[:ro]"``) added to every container, e.g.
    ``("/usr:/usr:ro",)`` to run real role TaskInfos on the tiny test image;
    ``image_map``: image name substitutions (TaskInfo image → local image);
    ``default_kill_grace_s``: grace when neither the kill nor ``kill_policy`` gives one.
    """

    def __init__(self, client: docker.DockerClient, *, poll_s: float = 0.25,
                 workers: int = 4, check_workers: int = 4, default_kill_grace_s: float = 5.0,
                 extra_volumes: tuple[str, ...] = (), image_map: dict[str, str] | None = None,
                 apply_limits: bool = True, sandbox_root: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.api = client, client.api
        self.runner_id = uuid.uuid4().hex[:10]
        self.poll_s, self.default_kill_grace_s = poll_s, default_kill_grace_s
        self.extra_volumes, self.image_map = tuple(extra_volumes), dict(image_map or {})
        self.apply_limits, self.clock = apply_limits, clock
        self._own_sandbox = sandbox_root is None
        self.sandbox_root = Path(sandbox_root or tempfile.mkdtemp(prefix="htcm-sandbox-"))
        self._lock = threading.Lock()             # guards the dicts below; never held on I/O
        self._tasks: dict[tuple[str, str], _Task] = {}
        self._networks: dict[tuple[str, str | None], str] = {}
        self._created_networks: list[str] = []
        self._net_lock = threading.Lock()
        self._ops = ThreadPoolExecutor(workers, thread_name_prefix=f"docker-runner-{self.runner_id}")
        self._probes = ThreadPoolExecutor(check_workers, thread_name_prefix="docker-health")
        self._stop = threading.Event()
        self._closed = False
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name=f"docker-watch-{self.runner_id}")
        self._watcher.start()

    # -- TaskRunner ----------------------------------------------------------------------

    def launch(self, agent: AgentInfo, task_info: dict[str, Any], sink: StatusSink) -> None:
        task_id = str((task_info.get("task_id") or {}).get("value", ""))
        name = f"htcm-{self.runner_id}-{_slug(agent.agent_id, 20)}-{_slug(task_id)}"
        task = _Task(agent, task_id, task_info, sink, name,
                     self.sandbox_root / _slug(agent.agent_id) / _slug(task_id))
        with self._lock:
            duplicate = (agent.agent_id, task_id) in self._tasks
            if not duplicate and not self._closed:
                self._tasks[(agent.agent_id, task_id)] = task
        if duplicate:
            log.warning("task %s is already running on %s: launch ignored", task_id, agent.agent_id)
            return
        if self._closed:
            return
        self._submit(self._launch, task)

    def kill(self, agent: AgentInfo, task_id: str, grace_s: float, sink: StatusSink) -> None:
        with self._lock:
            task = self._tasks.get((agent.agent_id, task_id))
        if task is None:
            log.info("kill of unknown or finished task %s on %s ignored", task_id, agent.agent_id)
            return
        self._submit(self._kill, task, grace_s, False)

    def lose_agent(self, agent: AgentInfo) -> None:
        with self._lock:
            lost = [t for (aid, _), t in self._tasks.items() if aid == agent.agent_id]
            for task in lost:
                del self._tasks[(task.agent.agent_id, task.task_id)]
        for task in lost:
            task.silent = True                    # plain store: no lock on the caller's thread
        if lost:
            self._submit(self._remove_quietly, lost)

    def close(self) -> None:
        """Remove every container and network this runner made; stop its threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for task in tasks:
            task.silent = True
        self._stop.set()
        self._watcher.join(timeout=10)
        self._sweep()                              # speeds up kills still waiting on grace
        self._ops.shutdown(wait=True, cancel_futures=True)
        self._probes.shutdown(wait=True, cancel_futures=True)
        self._sweep()
        for net in reversed(self._created_networks):
            try:
                self.client.networks.get(net).remove()
            except docker.errors.DockerException as exc:
                log.info("network %s kept: %s", net, _explain(exc))
        if self._own_sandbox:
            shutil.rmtree(self.sandbox_root, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._ops.submit(self._guarded, fn, *args)
        except RuntimeError:                      # pool shut down: runner closing
            pass

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:                         # noqa: BLE001 - never kill a pool thread
            log.exception("docker runner: %s failed", getattr(fn, "__name__", fn))

    def _emit(self, task: _Task, state: TaskState, message: str = "", reason: str | None = None,
              healthy: bool | None = None) -> None:
        """Report under ``task.lock`` (callers hold it); drop anything after a terminal."""
        if task.silent or task.state.terminal:
            return
        if state == TaskState.KILLING and task.state == TaskState.KILLING:
            return
        task.state = state
        if state.terminal:
            task.phase = "done"
            with self._lock:
                if self._tasks.get((task.agent.agent_id, task.task_id)) is task:
                    del self._tasks[(task.agent.agent_id, task.task_id)]
        report = TaskReport(task.task_id, state, message, reason,
                            task.ip if state == TaskState.RUNNING else None, healthy)
        try:
            task.sink.report(task.agent.agent_id, report)
        except Exception:                         # noqa: BLE001 - a sink bug must not stop us
            log.exception("status sink failed on %s %s", task.task_id, state.name)

    def _labels(self, task: _Task) -> dict[str, str]:
        return {OWNER_LABEL: "1", RUNNER_LABEL: self.runner_id,
                AGENT_LABEL: task.agent.agent_id, TASK_LABEL: task.task_id}

    def _network(self, agent: AgentInfo, name: str) -> str:
        """The Docker network standing in for Mesos network ``name`` on ``agent``."""
        cidr = agent.networks.get(name)
        key = (name, cidr)
        with self._net_lock:
            if key in self._networks:
                return self._networks[key]
            candidates = [name]
            if cidr:
                candidates.append(f"{name}-{cidr.replace('/', '_')}")
            for docker_name in candidates:
                try:
                    net = self.client.networks.get(docker_name)
                except docker.errors.NotFound:
                    if not cidr:
                        raise LaunchError(f"agent {agent.agent_id} has no network {name!r} "
                                          "(AgentInfo.networks) and Docker has none either")
                    self._create_network(docker_name, cidr)
                    break
                if not cidr or _same_subnet(net, cidr):
                    break
            self._networks[key] = docker_name
            return docker_name

    def _create_network(self, docker_name: str, cidr: str) -> None:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=cidr)])
        try:
            self.client.networks.create(docker_name, driver="bridge", ipam=ipam,
                                        check_duplicate=True,
                                        labels={OWNER_LABEL: "1", RUNNER_LABEL: self.runner_id})
            self._created_networks.append(docker_name)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:            # 409: someone made it meanwhile: use it
                raise LaunchError(f"cannot create network {docker_name!r} ({cidr}): "
                                  f"{_explain(exc)}") from None

    # -- workers -------------------------------------------------------------------------

    def _launch(self, task: _Task) -> None:
        with task.lock:
            if task.killing or task.silent:       # killed (or lost) before we began
                self._abort_launch(task, "")
                return
            try:
                task.sandbox.mkdir(parents=True, exist_ok=True)
                plan = plan_container(task.info, name=task.name, labels=self._labels(task),
                                      sandbox=task.sandbox, extra_volumes=self.extra_volumes,
                                      image_map=self.image_map, apply_limits=self.apply_limits)
                if task.info.get("health_check"):
                    task.check = HealthCheck.parse(task.info["health_check"])
            except (LaunchError, KeyError, TypeError, ValueError) as exc:
                self._emit(task, TaskState.FAILED, f"invalid task: {exc}",
                           getattr(exc, "reason", LAUNCH_FAILED))
                return
            self._emit(task, TaskState.STARTING)
        try:
            attrs = self._start(task, plan)
        except (LaunchError, docker.errors.DockerException) as exc:
            with task.lock:
                self._abort_launch(task, _explain(exc))
            return
        with task.lock:
            if attrs is None or task.killing or task.silent:
                self._abort_launch(task, "")
                return
            nets = attrs.get("NetworkSettings", {}).get("Networks") or {}
            task.ip = (nets.get(task.network) or {}).get("IPAddress") or None
            if not attrs.get("State", {}).get("Running"):
                task.phase = "running"            # exited already: the watcher reports it
                return
            task.phase, task.running_at = "running", self.clock()
            if task.check is not None:
                task.next_check = task.running_at + task.check.delay_s
            self._emit(task, TaskState.RUNNING)

    def _start(self, task: _Task, plan: ContainerPlan) -> dict[str, Any] | None:
        """Create and start the container; its inspect data, or None if overtaken by a
        kill or agent loss. Raises Docker or launch errors."""
        for attempt in (1, 2):
            kwargs = dict(plan.kwargs)
            if plan.network_mode == "user":
                task.network = self._network(task.agent, plan.user_network or "")
                kwargs["network"] = task.network
                if plan.ipv4_address or plan.aliases:
                    kwargs["networking_config"] = {task.network: self.api.create_endpoint_config(
                        ipv4_address=plan.ipv4_address, aliases=list(plan.aliases) or None)}
            elif plan.network_mode == "bridge":
                task.network = "bridge"
            container = self.client.containers.create(plan.image, **kwargs)
            with task.lock:
                task.container_id = container.id
                if task.killing or task.silent:
                    return None
            try:
                container.start()
            except docker.errors.NotFound as exc:
                # The network we cached was removed meanwhile (e.g. by another runner's
                # close(), which removes the networks it made): make it again, once.
                if attempt == 2 or plan.network_mode != "user" or "network" not in _explain(exc):
                    raise
                with task.lock:
                    self._remove(container.id)
                    task.container_id = None
                with self._net_lock:
                    self._networks = {k: v for k, v in self._networks.items() if v != task.network}
                continue
            return self.api.inspect_container(container.id)
        return None

    def _abort_launch(self, task: _Task, error: str) -> None:
        """Under ``task.lock``: launch failed or was overtaken by kill / agent loss."""
        if task.container_id:
            self._remove(task.container_id)
        if task.killing:
            self._emit(task, TaskState.KILLING)
            self._emit(task, TaskState.KILLED, "killed during launch",
                       "REASON_TASK_KILLED_DURING_LAUNCH")
        elif not task.silent:
            self._emit(task, TaskState.FAILED, f"container launch failed: {error}", LAUNCH_FAILED)

    def _kill(self, task: _Task, grace_s: float | None, by_health: bool) -> None:
        with task.lock:
            if task.phase in ("exiting", "done") or task.silent or task.killing:
                return
            task.killing = True
            if task.phase == "launching":         # the launch worker finishes the kill
                return
            self._emit(task, TaskState.KILLING)
            container_id = task.container_id
        if grace_s is None or grace_s < 0:
            nanos = ((task.info.get("kill_policy") or {}).get("grace_period") or {}).get("nanoseconds")
            grace_s = float(nanos) / 1e9 if nanos is not None else self.default_kill_grace_s
        message = "container stopped"
        try:
            self.api.stop(container_id, timeout=int(math.ceil(grace_s)))
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            message = f"docker stop failed ({_explain(exc)}); container removed by force"
        self._remove(container_id)
        with task.lock:
            if by_health:
                self._emit(task, TaskState.KILLED,
                           f"killed after {task.failures} consecutive failed health checks",
                           healthy=False)
            else:
                self._emit(task, TaskState.KILLED, message)

    def _remove(self, container_id: str | None) -> None:
        if not container_id:
            return
        try:
            self.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            log.warning("cannot remove container %s: %s", container_id[:12], _explain(exc))

    def _remove_quietly(self, tasks: list[_Task]) -> None:
        for task in tasks:
            with task.lock:
                container_id = task.container_id
            self._remove(container_id)

    def _sweep(self) -> None:
        try:
            found = self.api.containers(all=True, filters={"label": f"{RUNNER_LABEL}={self.runner_id}"})
        except docker.errors.DockerException as exc:
            log.warning("cannot list containers: %s", _explain(exc))
            return
        for item in found:
            self._remove(item["Id"])

    def _exited(self, task: _Task, gone: bool) -> None:
        """The container of a running task stopped by itself (or vanished); phase "exiting"."""
        container_id = task.container_id
        state, message, reason = TaskState.FAILED, "container disappeared", "REASON_EXECUTOR_TERMINATED"
        if not gone:
            try:
                info = self.api.inspect_container(container_id)["State"]
                code = int(info.get("ExitCode", -1))
                tail = self.api.logs(container_id, tail=LOG_LINES).decode("utf-8", "replace").strip()
                state = TaskState.FINISHED if code == 0 else TaskState.FAILED
                message = f"Container exited with status {code}"
                reason = None
                if info.get("OOMKilled"):
                    message, reason = message + " (out of memory)", "REASON_CONTAINER_LIMITATION_MEMORY"
                if state == TaskState.FAILED and tail:
                    message += "; last log lines:\n" + tail[-2000:]
            except docker.errors.DockerException as exc:
                message = f"container ended; inspect failed: {_explain(exc)}"
            self._remove(container_id)
        with task.lock:
            self._emit(task, state, message, reason)

    def _probe(self, task: _Task) -> None:
        check = task.check
        assert check is not None
        ok, detail = probe(self.api, check, task.ip, task.container_id or "")
        now = self.clock()
        kill = False
        with task.lock:
            task.probing, task.next_check = False, now + check.interval_s
            if task.phase != "running" or task.killing or task.silent:
                return
            if ok:
                task.failures, task.ever_healthy = 0, True
                if task.healthy is not True:
                    task.healthy = True
                    self._emit(task, TaskState.RUNNING, detail, HEALTH_UPDATED, healthy=True)
                return
            if not task.ever_healthy and now - task.running_at < check.grace_s:
                return                            # failures in the grace period do not count
            task.failures += 1
            if task.healthy is not False:
                task.healthy = False
                self._emit(task, TaskState.RUNNING, detail, HEALTH_UPDATED, healthy=False)
            kill = 0 < check.max_failures <= task.failures
        if kill:
            self._submit(self._kill, task, None, True)

    # -- watcher -------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick()
            except Exception:                     # noqa: BLE001 - keep watching
                log.exception("docker runner watcher")
                wait = self.poll_s
            self._stop.wait(wait)

    def _tick(self) -> float:
        with self._lock:
            running = [t for t in self._tasks.values() if t.phase == "running"]
        if running:
            try:
                found = {c["Id"]: c.get("State", "") for c in self.api.containers(
                    all=True, filters={"label": f"{RUNNER_LABEL}={self.runner_id}"})}
            except docker.errors.DockerException as exc:
                log.warning("cannot list containers: %s", _explain(exc))
                return self.poll_s
            for task in running:
                state = found.get(task.container_id or "")
                if state is None or state in ("exited", "dead", "removing"):
                    with task.lock:
                        claim = task.phase == "running" and not (task.killing or task.silent)
                        if claim:
                            task.phase = "exiting"
                    if claim:
                        self._submit(self._exited, task, state is None)
        now, wait = self.clock(), self.poll_s
        for task in running:
            with task.lock:
                due = (task.check is not None and not task.probing and task.phase == "running"
                       and not task.killing and not task.silent)
                if due and task.next_check <= now:
                    task.probing = True
                    try:
                        self._probes.submit(self._guarded, self._probe, task)
                    except RuntimeError:
                        task.probing = False
                elif due:
                    wait = min(wait, task.next_check - now)
        return max(0.01, wait)


def remove_emulator_objects(client: docker.DockerClient, runner_id: str | None = None) -> int:
    """Force-remove containers (then networks) labelled as emulator-made; return the count.

    Without ``runner_id`` this removes what every emulator on this engine made: call it
    only when no other emulator is running (e.g. after a crashed run).
    """
    label = f"{RUNNER_LABEL}={runner_id}" if runner_id else f"{OWNER_LABEL}=1"
    removed = 0
    for item in client.api.containers(all=True, filters={"label": label}):
        try:
            client.api.remove_container(item["Id"], force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    for net in client.networks.list(filters={"label": label}):
        try:
            net.remove()
            removed += 1
        except docker.errors.APIError as exc:
            log.info("network %s kept: %s", net.name, _explain(exc))
    return removed
