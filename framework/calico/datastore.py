"""The pool's Calico resources in Calico's etcd v3 datastore: plan, apply, check.

Layout and value as libcalico-go stores them (docs/calico-notes.md §1):

- key ``/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>``
  (libcalico-go/lib/backend/model/resource.go);
- value: the whole v3 object as JSON with ``metadata.uid`` and ``creationTimestamp`` set
  on create (libcalico-go/lib/clientv3/resources.go) and no ``resourceVersion`` (it is the
  key's etcd ModRevision, etcdv3/conversion.go); (Global)NetworkPolicies carry the
  annotation ``projectcalico.org/metadata: {"name": …}`` (etcdv3/etcdv3.go) and the label
  ``projectcalico.org/tier: <tier>`` (api/pkg/defaults/networkpolicy.go, stored since
  Calico 3.32; inert for older releases);
- create only if the key does not exist, update and delete only at the revision read
  (etcdv3.go's guarded transactions): a write that races another is refused, not merged.

:func:`plan` compares what the spec renders with what is stored (labels, annotations and
spec; uid, timestamps and status are the datastore's own); :func:`apply` writes the
difference in one guarded transaction (nothing when there is none); :func:`drift` names
each difference for ``calico check``. Keys labelled ``htcmesos.io/pool: <pool>`` are the
pool's: those no longer rendered are deleted; a key of the same name that is not the
pool's is never touched (an error).
"""
from __future__ import annotations

import ipaddress
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ..clock import Clock
from ..errors import CalicoDatastoreError
from .etcd import EtcdClient, KeyValue, Op
from .render import OWNER_LABEL

ROOT = "/calico/resources/v3/projectcalico.org/"
PLURALS = {"IPPool": "ippools", "GlobalNetworkPolicy": "globalnetworkpolicies",
           "NetworkPolicy": "networkpolicies"}
POLICY_KINDS = ("GlobalNetworkPolicy", "NetworkPolicy")
METADATA_ANNOTATION = "projectcalico.org/metadata"
TIER_LABEL = "projectcalico.org/tier"
#: one etcd transaction holds at most 128 operations (etcd's --max-txn-ops default)
MAX_TXN_OPS = 100


def key_for(resource: dict[str, Any]) -> str:
    meta = resource["metadata"]
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{ROOT}{PLURALS[resource['kind']]}/{ns}{meta['name']}"


def as_stored(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as Calico's client stores it: policies get the metadata annotation
    (etcdv3.go storePolicyName) and the tier label (defaults.setTierLabel, which the
    client runs before writing), so that a policy written by calicoctl shows no drift."""
    if resource["kind"] not in POLICY_KINDS:
        return resource
    meta = dict(resource["metadata"])
    meta["labels"] = {**(meta.get("labels") or {}),
                      TIER_LABEL: resource["spec"].get("tier") or "default"}
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           METADATA_ANNOTATION: json.dumps({"name": meta["name"]},
                                                           separators=(",", ":"))}
    return {**resource, "metadata": meta}


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """What drift is about: kind, labels, annotations and spec."""
    meta = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
            "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {},
            "spec": obj.get("spec") or {}}


def differences(want: Any, have: Any, at: str = "") -> list[str]:
    """Paths (``spec.ingress[0].action``) where ``have`` differs from ``want``."""
    if isinstance(want, dict) and isinstance(have, dict):
        out: list[str] = []
        for k in sorted(set(want) | set(have), key=str):
            out += differences(want.get(k), have.get(k), f"{at}.{k}" if at else str(k))
        return out
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        out = []
        for i, (w, h) in enumerate(zip(want, have)):
            out += differences(w, h, f"{at}[{i}]")
        return out
    return [] if want == have else [at or "<value>"]


@dataclass(frozen=True)
class Stored:
    key: str
    obj: dict[str, Any] | None        # None: the value is not a JSON object
    mod_revision: int

    @property
    def owner(self) -> str | None:
        labels = ((self.obj or {}).get("metadata") or {}).get("labels") or {}
        return labels.get(OWNER_LABEL)


@dataclass(frozen=True)
class Change:
    action: str                        # create | update | delete
    key: str
    resource: dict[str, Any] | None    # what is written (create/update)
    stored: Stored | None
    fields: tuple[str, ...] = ()       # update: the paths that differ

    def describe(self) -> str:
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action} {self.key}{what}"


@dataclass
class Plan:
    pool: str
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)   # keys htcmesos will not write

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def read_stored(client: EtcdClient) -> dict[str, Stored]:
    """Every key under the plurals htcmesos writes."""
    out: dict[str, Stored] = {}
    for plural in PLURALS.values():
        for kv in client.get_prefix(f"{ROOT}{plural}/"):
            out[kv.key] = _stored(kv)
    return out


def _stored(kv: KeyValue) -> Stored:
    try:
        obj = json.loads(kv.value)
    except ValueError:
        obj = None
    return Stored(kv.key, obj if isinstance(obj, dict) else None, kv.mod_revision)


def plan(pool: str, desired: list[dict[str, Any]], stored: dict[str, Stored]) -> Plan:
    """The changes that make the datastore hold ``desired`` (pure)."""
    out = Plan(pool)
    wanted: set[str] = set()
    for res in desired:
        res = as_stored(res)
        key = key_for(res)
        wanted.add(key)
        have = stored.get(key)
        if have is None:
            out.changes.append(Change("create", key, res, None))
            continue
        if have.owner != pool:
            owner = f"pool {have.owner}'s" if have.owner else "not made by htcmesos"
            out.refused.append(f"{key} exists and is {owner} (no {OWNER_LABEL}: {pool} "
                               f"label); remove or rename it first")
            continue
        diff = differences(comparable(res), comparable(have.obj or {}))
        if not diff:
            out.unchanged.append(key)
            continue
        if res["kind"] == "IPPool":
            frozen = [f for f in diff if f in ("spec.cidr", "spec.blockSize")]
            if frozen:
                out.refused.append(f"{key}: {' and '.join(frozen)} cannot change in place "
                                   f"(Calico keeps allocations in blocks of the old pool); "
                                   f"drain the site, delete the pool, then apply")
                continue
        out.changes.append(Change("update", key, res, have, tuple(diff)))
    for key, have in sorted(stored.items()):
        if key not in wanted and have.owner == pool:
            out.changes.append(Change("delete", key, None, have))
    out.refused += _overlaps(pool, desired, stored)
    return out


def _overlaps(pool: str, desired: list[dict[str, Any]], stored: dict[str, Stored]) -> list[str]:
    """Desired IPPools whose CIDR overlaps a stored pool that is not ours (Calico's
    client refuses those on create; a raw write would not)."""
    ours = {key_for(r) for r in desired}
    out = []
    for res in desired:
        if res["kind"] != "IPPool":
            continue
        net = ipaddress.ip_network(res["spec"]["cidr"])
        for key, have in stored.items():
            if key in ours or "/ippools/" not in key or have.owner == pool or not have.obj:
                continue
            try:
                other = ipaddress.ip_network(have.obj.get("spec", {}).get("cidr", ""))
            except (TypeError, ValueError):
                continue
            if net.overlaps(other):
                out.append(f"IPPool {res['metadata']['name']}: {net} overlaps {key} ({other})")
    return out


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _value(change: Change, clock: Clock, new_uid: Callable[[], str]) -> bytes:
    """The stored JSON: uid and creationTimestamp kept from the stored object (update)
    or made now (create); never a resourceVersion."""
    res = change.resource or {}
    meta = dict(res["metadata"])
    old = ((change.stored.obj or {}).get("metadata") or {}) if change.stored else {}
    meta["uid"] = old.get("uid") or new_uid()
    meta["creationTimestamp"] = old.get("creationTimestamp") or rfc3339(clock.wall())
    meta.pop("resourceVersion", None)
    obj = {"kind": res["kind"], "apiVersion": res["apiVersion"], "metadata": meta,
           "spec": res["spec"]}
    return json.dumps(obj, separators=(",", ":")).encode()


def apply(client: EtcdClient, the_plan: Plan, clock: Clock,
          new_uid: Callable[[], str] = lambda: str(uuid.uuid4())) -> list[Change]:
    """Write ``the_plan`` (guarded; pools before policies, deletes last). Refuses the
    whole plan if any key is refused. Returns the changes written."""
    if the_plan.refused:
        raise CalicoDatastoreError("not written:\n" + "\n".join(
            "  " + r for r in the_plan.refused))
    order = {"IPPool": 0}
    writes = sorted((c for c in the_plan.changes if c.action != "delete"),
                    key=lambda c: order.get((c.resource or {}).get("kind", ""), 1))
    deletes = sorted((c for c in the_plan.changes if c.action == "delete"),
                     key=lambda c: "/ippools/" in c.key)      # policies first
    ops = [Op(c.key, _value(c, clock, new_uid), c.stored.mod_revision if c.stored else 0)
           for c in writes]
    ops += [Op(c.key, None, c.stored.mod_revision if c.stored else None) for c in deletes]
    for i in range(0, len(ops), MAX_TXN_OPS):
        if not client.txn(ops[i:i + MAX_TXN_OPS]):
            raise CalicoDatastoreError(
                "the datastore changed while applying (another writer?): "
                f"{'nothing' if i == 0 else f'the first {i} change(s)'} written; run apply again")
    return writes + deletes


def drift(the_plan: Plan) -> list[str]:
    """One line per difference between the datastore and the spec (empty: none)."""
    lines = []
    for c in the_plan.changes:
        if c.action == "create":
            lines.append(f"missing {c.key}")
        elif c.action == "update":
            lines.append(f"changed {c.key}: {', '.join(c.fields)}")
        else:
            lines.append(f"extra {c.key} (labelled {OWNER_LABEL}: {the_plan.pool}, "
                         f"no longer rendered)")
    return lines + [f"conflict {r}" for r in the_plan.refused]
