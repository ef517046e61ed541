"""A small etcd v3 client over its JSON gateway (HTTP), enough for Calico's datastore.

etcd serves its gRPC KV API as JSON on the client URL (etcd's grpc-gateway): ``POST
<prefix>/kv/range``, ``/kv/put``, ``/kv/txn``, ``/kv/deleterange``, keys and values base64,
64-bit integers as strings, zero values left out of answers. The prefix is ``/v3`` from
etcd 3.4 on (3.4 also keeps ``/v3beta``; 3.3 has only ``/v3beta``): probed once.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import requests

from ..errors import CalicoDatastoreError

PREFIXES = ("/v3", "/v3beta")
TIMEOUT_S = 10.0


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text or "")


def prefix_end(prefix: str) -> bytes:
    """The range end that covers every key starting with ``prefix`` (etcd's rule:
    the prefix with its last byte incremented)."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return b"\0"
    raw[-1] += 1
    return bytes(raw)


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    version: int


@dataclass(frozen=True)
class Op:
    """One operation of a transaction: put (``value`` set) or delete (``value`` None),
    guarded by ``mod_revision`` (0: the key must not exist; None: unguarded)."""

    key: str
    value: bytes | None
    mod_revision: int | None


class EtcdClient:
    def __init__(self, url: str, session: requests.Session | None = None,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.session.trust_env = False            # never through a proxy: a local etcd
        self.timeout_s = timeout_s
        self._prefix: str | None = None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._prefix is None:
            self._prefix = self._probe()
        return self._call(self._prefix + path, body)

    def _call(self, path: str, body: dict[str, Any], missing_ok: bool = False) -> Any:
        try:
            resp = self.session.post(self.url + path, json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CalicoDatastoreError(f"etcd at {self.url} did not answer: {exc}") from None
        if missing_ok and resp.status_code == 404:
            return None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code != 200:
            why = data.get("error") or data.get("message") or resp.text[:200]
            raise CalicoDatastoreError(f"etcd at {self.url} refused {path}: "
                                       f"HTTP {resp.status_code} {why}")
        return data

    def _probe(self) -> str:
        for prefix in PREFIXES:
            if self._call(prefix + "/kv/range", {"key": _b64("\0"), "limit": 1},
                          missing_ok=True) is not None:
                return prefix
        raise CalicoDatastoreError(f"{self.url} serves no etcd v3 JSON API "
                                   f"(tried {', '.join(PREFIXES)}): is it etcd ≥ 3.3?")

    def revision(self) -> int:
        """The store's current revision (grows by one per write transaction)."""
        data = self._post("/kv/range", {"key": _b64("\0"), "limit": 1})
        return int(data.get("header", {}).get("revision", 0))

    def get_prefix(self, prefix: str) -> list[KeyValue]:
        data = self._post("/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
        return [KeyValue(_unb64(kv["key"]).decode(), _unb64(kv.get("value", "")),
                         int(kv.get("mod_revision", 0)), int(kv.get("version", 0)))
                for kv in data.get("kvs") or []]

    def get(self, key: str) -> KeyValue | None:
        found = [kv for kv in self.get_prefix(key) if kv.key == key]
        return found[0] if found else None

    def put(self, key: str, value: bytes) -> int:
        data = self._post("/kv/put", {"key": _b64(key), "value": _b64(value)})
        return int(data.get("header", {}).get("revision", 0))

    def delete(self, key: str) -> int:
        data = self._post("/kv/deleterange", {"key": _b64(key)})
        return int(data.get("deleted", 0))

    def txn(self, ops: list[Op]) -> bool:
        """Run ``ops`` at once if every guard holds (etcd: all or nothing); False if one
        did not (someone wrote meanwhile)."""
        compare, success = [], []
        for op in ops:
            if op.mod_revision == 0:
                compare.append({"key": _b64(op.key), "target": "VERSION", "result": "EQUAL",
                                "version": "0"})
            elif op.mod_revision is not None:
                compare.append({"key": _b64(op.key), "target": "MOD", "result": "EQUAL",
                                "mod_revision": str(op.mod_revision)})
            if op.value is None:
                success.append({"request_delete_range": {"key": _b64(op.key)}})
            else:
                success.append({"request_put": {"key": _b64(op.key), "value": _b64(op.value)}})
        data = self._post("/kv/txn", {"compare": compare, "success": success, "failure": []})
        return bool(data.get("succeeded", False))
