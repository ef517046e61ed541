"""Wire facts of the Mesos v1 scheduler API shared by the client and the emulator.

JSON follows the proto3 mapping: enums are name strings, IDs are ``{"value": ...}``,
``bytes`` are base64. Resources: cpus in cores, mem and disk in MiB, ports as ranges.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

SCHEDULER_PATH = "/api/v1/scheduler"
STREAM_ID_HEADER = "Mesos-Stream-Id"
DEFAULT_HEARTBEAT_S = 15.0


class TaskState(str, enum.Enum):
    """Mesos TaskState names (without the ``TASK_`` prefix in :attr:`short`)."""

    STAGING = "TASK_STAGING"
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"
    ERROR = "TASK_ERROR"
    LOST = "TASK_LOST"
    DROPPED = "TASK_DROPPED"
    UNREACHABLE = "TASK_UNREACHABLE"
    GONE = "TASK_GONE"
    GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    UNKNOWN = "TASK_UNKNOWN"

    @property
    def short(self) -> str:
        return self.value[5:]

    @property
    def terminal(self) -> bool:
        """Terminal for a framework that is not partition-aware (LOST is terminal)."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED,
                             TaskState.ERROR, TaskState.DROPPED, TaskState.GONE,
                             TaskState.GONE_BY_OPERATOR, TaskState.LOST})


# -- RecordIO -------------------------------------------------------------------------

def encode_record(event: dict[str, Any]) -> bytes:
    """One RecordIO record: ``<decimal length>\\n<json bytes>``."""
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    return str(len(data)).encode("ascii") + b"\n" + data


class RecordIOError(ValueError):
    """The stream is not RecordIO (bad length prefix)."""


class RecordIODecoder:
    """Incremental RecordIO decoder: feed arbitrary chunks, get whole records back."""

    MAX_RECORD = 256 * 1024 * 1024

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        self._buf += chunk
        while True:
            newline = self._buf.find(b"\n")
            if newline < 0:
                if len(self._buf) > 20:
                    raise RecordIOError(f"no record length in {bytes(self._buf[:20])!r}…")
                return
            head = bytes(self._buf[:newline])
            if not head.isdigit():
                raise RecordIOError(f"bad record length {head[:20]!r}")
            length = int(head)
            if length > self.MAX_RECORD:
                raise RecordIOError(f"record of {length} bytes is too large")
            end = newline + 1 + length
            if len(self._buf) < end:
                return
            record = bytes(self._buf[newline + 1:end])
            del self._buf[:end]
            yield record


# -- resources ------------------------------------------------------------------------

def scalar(name: str, value: float, role: str = "*") -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": float(value)}, "role": role}


def ranges(name: str, spans: Iterable[tuple[int, int]], role: str = "*") -> dict[str, Any]:
    return {"name": name, "type": "RANGES", "role": role,
            "ranges": {"range": [{"begin": int(b), "end": int(e)} for b, e in spans]}}


def text_attribute(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "type": "TEXT", "text": {"value": value}}


@dataclass(frozen=True)
class Resources:
    """Scalar resources plus port ranges of an offer or a task."""

    cpus: float = 0.0
    mem: float = 0.0   # MiB
    disk: float = 0.0  # MiB
    ports: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, resources: Iterable[dict[str, Any]]) -> "Resources":
        """Sum a ``resources[]`` list (unknown names are ignored); raises ValueError."""
        cpus = mem = disk = 0.0
        ports: list[tuple[int, int]] = []
        for res in resources:
            name, kind = res["name"], res.get("type", "SCALAR")
            if kind == "SCALAR":
                value = float(res["scalar"]["value"])
                if name == "cpus":
                    cpus += value
                elif name == "mem":
                    mem += value
                elif name == "disk":
                    disk += value
            elif kind == "RANGES" and name == "ports":
                for span in res["ranges"].get("range", []):
                    ports.append((int(span["begin"]), int(span["end"])))
        return cls(cpus, mem, disk, tuple(sorted(ports)))

    def port_count(self) -> int:
        return sum(e - b + 1 for b, e in self.ports)

    def to_list(self, role: str = "*") -> list[dict[str, Any]]:
        out = [scalar(n, v, role) for n, v in (("cpus", self.cpus), ("mem", self.mem),
                                               ("disk", self.disk)) if v > 0]
        if self.ports:
            out.append(ranges("ports", self.ports, role))
        return out


def attribute_value(attr: dict[str, Any]) -> str | None:
    """The value of an agent attribute as text (TEXT, SCALAR, RANGES or SET)."""
    kind = attr.get("type")
    if kind == "TEXT":
        return str(attr.get("text", {}).get("value"))
    if kind == "SCALAR":
        return f"{attr.get('scalar', {}).get('value'):g}"
    if kind == "SET":
        return ",".join(attr.get("set", {}).get("item", []))
    if kind == "RANGES":
        return ",".join(f"[{r['begin']}-{r['end']}]" for r in attr.get("ranges", {}).get("range", []))
    return None


# -- MasterInfo ------------------------------------------------------------------------

def ip_to_uint32(ip: str) -> int:
    """MasterInfo ``ip``: the IPv4 address's network-order bytes read as a little-endian
    uint32, as Mesos writes it (``127.0.0.1`` → 16777343)."""
    import socket
    return int.from_bytes(socket.inet_aton(ip), "little")


def uint32_to_ip(value: int) -> str:
    """Inverse of :func:`ip_to_uint32`."""
    import socket
    return socket.inet_ntoa(int(value).to_bytes(4, "little"))
