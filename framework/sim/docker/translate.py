"""Translate a Mesos Docker TaskInfo into the arguments of one ``containers.create`` call.

What the Mesos Docker containerizer takes from a TaskInfo, as :func:`plan_container`
applies it (pure: no engine access; every error is a :class:`LaunchError`):

- ``container.docker.image`` (never pulled: it must exist locally; ``image_map`` may
  substitute a local image), the command (``shell: true`` → entrypoint ``/bin/sh`` with
  ``-c value``; ``shell: false`` keeps the image entrypoint and passes ``value`` (if any)
  then ``arguments``), environment variables, volumes (``host_path`` →
  ``container_path``, ``RO``/``RW``), a per-task sandbox bound at
  ``/mnt/mesos/sandbox``, ``cpus`` → cpu shares (1024 per cpu), ``mem`` (MiB) → memory
  limit, docker ``parameters`` (keys in :data:`PARAMETERS`; any other key fails the task);
- network ``USER`` names its Mesos network (the runner maps it to a Docker network);
  ``BRIDGE``/``HOST``/``NONE`` map to Docker's own modes (``BRIDGE`` publishes
  ``port_mappings`` on 127.0.0.1).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import docker.types

SANDBOX = "/mnt/mesos/sandbox"         # the sandbox's path inside every container
LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"


class LaunchError(Exception):
    """The TaskInfo cannot be run; ``str()`` is the TASK_FAILED message."""

    def __init__(self, message: str, reason: str | None = LAUNCH_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


# -- docker parameters ------------------------------------------------------------------

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


def env_value(var: dict[str, Any]) -> str:
    """The value of a Mesos ``Environment.Variable`` (VALUE, or a SECRET given by value)."""
    kind = var.get("type", "VALUE")
    if kind == "VALUE":
        return str(var.get("value", ""))
    secret = var.get("secret") or {}
    if kind == "SECRET" and secret.get("type", "VALUE") == "VALUE":
        return base64.b64decode(secret.get("value", {}).get("data", "")).decode("utf-8")
    raise LaunchError(f"environment variable {var.get('name')!r}: only VALUE variables and "
                      "SECRET values are supported (no secret references)")


def _volumes(volumes: list[dict[str, Any]], sandbox: Path) -> list[str]:
    """Bind strings ``host:container:mode`` for Mesos ``container.volumes``."""
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
        env[str(var["name"])] = env_value(var)
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
