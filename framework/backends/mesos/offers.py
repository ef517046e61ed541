"""Offers → placements, pure: which offer runs which tasks.

Fit is checked on cpus, mem (MiB), disk (MiB) and host ports; an offer is used at most
once and never beyond what it offers; tasks are never placed beyond what is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ...mesos.protocol import Resources, attribute_value
from ...spec import SiteSpec


@dataclass(frozen=True)
class Offer:
    id: str
    agent_id: str
    hostname: str
    site: str | None        # None: the agent belongs to no site of the spec
    resources: Resources
    allocation_role: str | None = None  # MULTI_ROLE: the role the offer is allocated to


class SiteMatcher:
    """Tells an offer's site from its agent attributes or fault domain."""

    def __init__(self, sites: Sequence[SiteSpec]):
        self._by_attr: dict[tuple[str, str], str] = {}
        self._by_zone: dict[tuple[str, str | None], str] = {}
        for site in sites:
            if site.agents.attribute:
                self._by_attr[site.agents.attribute] = site.name
            else:
                self._by_zone[(site.agents.region or "", site.agents.zone)] = site.name

    @property
    def region_aware(self) -> bool:
        """Sites are regions: the framework must declare REGION_AWARE to see them."""
        return bool(self._by_zone)

    def site_of(self, offer: dict[str, Any]) -> str | None:
        for attr in offer.get("attributes") or ():
            key = (attr.get("name"), attribute_value(attr))
            if key in self._by_attr:
                return self._by_attr[key]
        domain = (offer.get("domain") or {}).get("fault_domain") or {}
        region = (domain.get("region") or {}).get("name")
        zone = (domain.get("zone") or {}).get("name")
        if region is not None:
            return self._by_zone.get((region, zone)) or self._by_zone.get((region, None))
        return None


def parse_offer(raw: dict[str, Any], matcher: SiteMatcher) -> Offer:
    """Typed view of one Offer JSON; raises ValueError naming what is malformed."""
    try:
        return Offer(id=str(raw["id"]["value"]), agent_id=str(raw["agent_id"]["value"]),
                     hostname=str(raw.get("hostname", "")), site=matcher.site_of(raw),
                     resources=Resources.parse(raw.get("resources") or ()),
                     allocation_role=(raw.get("allocation_info") or {}).get("role"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed offer ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Need:
    """``count`` more tasks of ``role`` wanted at one of ``sites``, each this size."""

    role: str
    sites: frozenset[str]
    count: int
    cpus: float
    mem: float
    disk: float
    ports: int = 0
    #: an executor sized to jobs of this (cpus, memory MiB) (autoscaling.executor_size: jobs)
    size: tuple[float, float] | None = None


@dataclass
class Placement:
    offer: Offer
    tasks: list[tuple[Need, tuple[tuple[int, int], ...]]] = field(default_factory=list)


@dataclass
class _Left:
    cpus: float
    mem: float
    disk: float
    ports: list[int]  # free host ports, ascending (taken from the front)


def _free_ports(res: Resources, limit: int) -> list[int]:
    out: list[int] = []
    for begin, end in res.ports:
        for port in range(begin, end + 1):
            if len(out) >= limit:
                return out
            out.append(port)
    return out


def _as_ranges(ports: list[int]) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for port in ports:
        if spans and spans[-1][1] == port - 1:
            spans[-1] = (spans[-1][0], port)
        else:
            spans.append((port, port))
    return tuple(spans)


_EPS = 1e-9


def pack(offers: Iterable[Offer], needs: Sequence[Need]) -> tuple[list[Placement], list[Offer]]:
    """Place needs on offers in order; return (used placements, unused offers).

    ``needs`` come in priority order; each offer takes as many tasks as fit, the first
    need first. Runs in O(offers × needs-per-site + tasks).
    """
    remaining = [n.count for n in needs]
    total = sum(remaining)
    used: list[Placement] = []
    unused: list[Offer] = []
    max_ports = max((n.ports for n in needs), default=0)
    for offer in offers:
        if total <= 0 or offer.site is None:
            unused.append(offer)
            continue
        res = offer.resources
        left: _Left | None = None
        placement = Placement(offer)
        for i, need in enumerate(needs):
            if remaining[i] <= 0 or offer.site not in need.sites:
                continue
            if left is None:
                left = _Left(res.cpus, res.mem, res.disk,
                             _free_ports(res, max_ports * max(1, total)) if max_ports else [])
            while (remaining[i] > 0 and left.cpus + _EPS >= need.cpus
                   and left.mem + _EPS >= need.mem and left.disk + _EPS >= need.disk
                   and len(left.ports) >= need.ports):
                left.cpus -= need.cpus
                left.mem -= need.mem
                left.disk -= need.disk
                taken, left.ports = left.ports[:need.ports], left.ports[need.ports:]
                placement.tasks.append((need, _as_ranges(taken)))
                remaining[i] -= 1
                total -= 1
        if placement.tasks:
            used.append(placement)
        else:
            unused.append(offer)
    return used, unused
