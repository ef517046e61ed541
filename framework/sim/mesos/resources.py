"""Resource arithmetic for the emulated master: cpus (cores), mem and disk (MiB), ports.

Builds on :class:`framework.mesos.protocol.Resources` (immutable); port ranges are
inclusive ``(begin, end)`` pairs, kept sorted and merged.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

from ...mesos.protocol import Resources

Span = tuple[int, int]
EPSILON = 1e-6
#: Mesos' smallest allocatable amounts (``MIN_CPUS`` cores, ``MIN_MEM`` MiB).
MIN_CPUS, MIN_MEM = 0.01, 32.0
EMPTY = Resources()


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sort and merge overlapping or adjacent inclusive ranges."""
    out: list[list[int]] = []
    for begin, end in sorted(spans):
        if out and begin <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([begin, end])
    return tuple((b, e) for b, e in out)


def subtract_spans(have: Iterable[Span], take: Iterable[Span]) -> tuple[Span, ...]:
    """``have`` minus ``take`` (both inclusive ranges)."""
    result = list(merge_spans(have))
    for tb, te in merge_spans(take):
        nxt: list[Span] = []
        for b, e in result:
            if te < b or tb > e:
                nxt.append((b, e))
                continue
            if b < tb:
                nxt.append((b, tb - 1))
            if te < e:
                nxt.append((te + 1, e))
        result = nxt
    return tuple(result)


def spans_contain(have: Iterable[Span], want: Iterable[Span]) -> bool:
    """True if every port of ``want`` lies inside ``have``."""
    merged = merge_spans(have)
    for wb, we in merge_spans(want):
        if not any(b <= wb and we <= e for b, e in merged):
            return False
    return True


def add(a: Resources, b: Resources) -> Resources:
    return Resources(a.cpus + b.cpus, a.mem + b.mem, a.disk + b.disk,
                     merge_spans(a.ports + b.ports))


def subtract(a: Resources, b: Resources) -> Resources:
    """``a - b``, scalars clamped at zero (callers check :func:`contains` first)."""
    def clamp(x: float) -> float:
        return 0.0 if x < EPSILON else round(x, 6)
    return Resources(clamp(a.cpus - b.cpus), clamp(a.mem - b.mem), clamp(a.disk - b.disk),
                     subtract_spans(a.ports, b.ports))


def contains(a: Resources, b: Resources) -> bool:
    """True if ``b`` fits in ``a``."""
    return (b.cpus <= a.cpus + EPSILON and b.mem <= a.mem + EPSILON
            and b.disk <= a.disk + EPSILON and spans_contain(a.ports, b.ports))


def allocatable(r: Resources) -> bool:
    """Worth offering: at least Mesos' minimum cpus or memory."""
    return r.cpus >= MIN_CPUS or r.mem >= MIN_MEM


def is_empty(r: Resources) -> bool:
    return r.cpus < EPSILON and r.mem < EPSILON and r.disk < EPSILON and not r.ports


def describe(r: Resources) -> str:
    """Mesos-style text, e.g. ``cpus:1; mem:128; disk:0; ports:[31000-31001]``."""
    parts = [f"cpus:{r.cpus:g}", f"mem:{r.mem:g}", f"disk:{r.disk:g}"]
    if r.ports:
        parts.append("ports:[" + ", ".join(f"{b}-{e}" for b, e in r.ports) + "]")
    return "; ".join(parts)


@functools.lru_cache(maxsize=4096)
def offer_resources_json(r: Resources, role: str) -> list[dict[str, Any]]:
    """Offer ``resources[]``: unreserved (role ``*``) and allocated to ``role``.

    Cached: agents of one shape share one list — callers must only serialise it."""
    out = r.to_list("*")
    for res in out:
        res["allocation_info"] = {"role": role}
    return out


KNOWN_RESOURCES = frozenset({"cpus", "mem", "disk", "ports"})


def parse_task_resources(resources: list[dict[str, Any]]) -> tuple[Resources, str | None]:
    """Task ``resources[]`` → (:class:`Resources`, error text or None).

    Errors are those Mesos reports as "Task uses invalid resources": a negative or
    non-finite scalar, a range with begin > end, a type that does not fit the name, a
    resource the emulated agents do not have, or a reservation (agents here have only
    unreserved resources).
    """
    for res in resources:
        name, kind = res["name"], res["type"]
        if name not in KNOWN_RESOURCES:
            return EMPTY, f"resource '{name}' does not exist on this agent"
        want = "RANGES" if name == "ports" else "SCALAR"
        if kind != want:
            return EMPTY, f"resource '{name}' must be of type {want}, not {kind}"
        if kind == "SCALAR":
            if "scalar" not in res:
                return EMPTY, f"resource '{name}' has no 'scalar' value"
            value = res["scalar"]["value"]
            if not (value >= 0.0) or value == float("inf"):
                return EMPTY, f"resource '{name}' has invalid value {value}"
        else:
            for span in res.get("ranges", {}).get("range", []):
                if span["begin"] > span["end"] or span["begin"] < 0:
                    return EMPTY, f"resource '{name}' has invalid range [{span['begin']}-{span['end']}]"
        if res.get("reservations") or res.get("reservation") or res.get("role", "*") != "*":
            return EMPTY, f"resource '{name}' is reserved; the emulated agents offer only unreserved resources"
        for special in ("disk", "revocable", "shared", "provider_id"):
            if res.get(special) is not None:
                return EMPTY, f"resource '{name}' uses '{special}', which the emulated agents do not offer"
    return Resources.parse(resources), None
