"""Virtual nodes: the stable names CLUES knows the pool's executors by.

CLUES manages a fixed list of nodes (its hosts file, ``IP NAME`` lines), while executors
are Mesos tasks that come and go. Each site has ``executors.max`` virtual nodes,
``<site>-<k>`` (``k`` from 1, zero-padded to the width of the maximum). A node is *on*
while an executor task is bound to it. An executor is bound when first seen: to the
oldest power-on request at its site still waiting for one, else to the site's lowest free
node. A binding ends with its task. Pure: the table is immutable, every change is a copy.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import HtcmesosError
from ..planner.decision import Executor, TaskState
from ..spec import ClusterSpec


class NodeError(HtcmesosError):
    """A node name that is not one of the pool's virtual nodes."""


def node_names(spec: ClusterSpec, site: str) -> list[str]:
    """The virtual nodes of ``site``, in order."""
    top = spec.site(site).executors_max
    width = len(str(top))
    return [f"{site}-{k:0{width}d}" for k in range(1, top + 1)]


def all_nodes(spec: ClusterSpec) -> list[tuple[str, str]]:
    """(node, site) of every virtual node of the pool."""
    return [(name, s.name) for s in spec.sites for name in node_names(spec, s.name)]


def site_of(spec: ClusterSpec, node: str) -> str:
    """The site of virtual node ``node``; NodeError naming the valid ones otherwise."""
    site, sep, _ = node.rpartition("-")
    names = {s.name for s in spec.sites}
    if sep and site in names and node in node_names(spec, site):
        return site
    ranges = ", ".join(f"{n[0]} … {n[-1]}" if len(n) > 1 else n[0]
                       for n in (node_names(spec, s.name) for s in spec.sites) if n)
    raise NodeError(f"{node!r} is not a node of pool {spec.pool.name}: its nodes are "
                    f"{ranges or 'none (every site has executors.max 0)'}")


@dataclass(frozen=True)
class NodeTable:
    """Which executor task runs each virtual node, and the power requests in progress."""

    bound: dict[str, str] = field(default_factory=dict)        # task id → node
    #: node → clock s of a power-on request still waiting for an executor
    pending_on: dict[str, float] = field(default_factory=dict)
    #: node → clock s of a power-off request whose executor is not yet drained
    pending_off: dict[str, float] = field(default_factory=dict)

    def task_of(self, node: str) -> str | None:
        return next((t for t, n in self.bound.items() if n == node), None)

    def tasks(self) -> dict[str, str]:
        """node → task id of every node that is on."""
        return {n: t for t, n in self.bound.items()}

    def bind(self, executors: list[Executor], spec: ClusterSpec) -> "NodeTable":
        """Bindings for the executors that exist now (see the module docstring)."""
        live = {e.task_id for e in executors}
        leaving = {e.task_id for e in executors if e.state is TaskState.KILLING}
        # a node powered on again while its old executor is still being killed goes to
        # the next executor: the leaving one gives its name up
        bound = {t: n for t, n in self.bound.items()
                 if t in live and not (t in leaving and n in self.pending_on)}
        pending = dict(self.pending_on)
        taken = set(bound.values())
        fresh = sorted((e for e in executors if e.task_id not in bound
                        and e.task_id not in leaving),
                       key=lambda e: (e.launched_at, e.task_id))
        waiting: dict[str, list[str]] = {}           # site → pending nodes, oldest first
        for at, node in sorted((at, n) for n, at in pending.items() if n not in taken):
            waiting.setdefault(site_of(spec, node), []).append(node)
        free: dict[str, Iterator[str]] = {}
        for e in fresh:
            if e.site not in {s.name for s in spec.sites}:
                continue
            if waiting.get(e.site):
                node = waiting[e.site].pop(0)
                del pending[node]
            else:
                names = free.setdefault(e.site, iter(node_names(spec, e.site)))
                node = next((n for n in names if n not in taken and n not in pending), None)
                if node is None:                  # more executors than nodes: unnamed
                    continue
            bound[e.task_id] = node
            taken.add(node)
        off = {n: at for n, at in self.pending_off.items() if n in taken}
        return dataclasses.replace(self, bound=bound, pending_on=pending, pending_off=off)
