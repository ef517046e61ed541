"""The published record of the central manager and the publisher ABC.

A record says where the pool's collector is now: ``{"address", "collector", "task_id",
"published_at"}`` (JSON; ``collector`` is ``<address>:9618?sock=collector``, what a daemon
puts in ``COLLECTOR_HOST``; ``published_at`` wall-clock seconds). The role containers' follower
(executors/htcmesos_role/discovery.py) reads the same fields; docs/discovery.md.
"""
from __future__ import annotations

import abc
import ipaddress
import json
from dataclasses import dataclass

from ..condor.config import collector_address
from ..errors import DiscoveryError


@dataclass(frozen=True)
class Record:
    """Where the central manager is: its address and the Mesos/Marathon task holding it."""

    address: str
    task_id: str
    published_at: float = 0.0      # wall-clock seconds (time.time())

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise DiscoveryError(f"the central manager's address {self.address!r} is not an "
                                 f"IP address") from None

    @property
    def collector(self) -> str:
        return collector_address(self.address)

    def same_place(self, other: "Record | None") -> bool:
        """Same address and task: nothing to publish (the time does not count)."""
        return other is not None and (other.address, other.task_id) == (self.address,
                                                                         self.task_id)

    def to_json(self) -> bytes:
        return json.dumps({"address": self.address, "collector": self.collector,
                           "task_id": self.task_id, "published_at": self.published_at},
                          sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, where: str) -> "Record":
        """The record in ``data``; DiscoveryError naming ``where`` if it is not one."""
        try:
            body = json.loads(data)
            return cls(str(body["address"]), str(body.get("task_id") or ""),
                       float(body.get("published_at") or 0.0))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DiscoveryError(f"{where} holds no central-manager record "
                                 f"({type(exc).__name__}: {exc})") from None


class Publisher(abc.ABC):
    """Publishes the central manager's record where the pool's daemons look for it."""

    #: where, for messages (``zk://…/path``, ``consul http://…/<service>``)
    where: str = ""

    @abc.abstractmethod
    def publish(self, record: Record) -> bool:
        """Make ``record`` the published one; False if it already was (nothing written).
        DiscoveryUnavailable when the store cannot be reached, DiscoveryRejected when it
        refuses the record."""

    @abc.abstractmethod
    def current(self) -> Record | None:
        """The published record (None: nothing published yet)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections (the published record stays)."""
