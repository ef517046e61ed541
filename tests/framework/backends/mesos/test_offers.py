"""Offer parsing, site matching and packing (pure)."""
from __future__ import annotations

import pytest

from framework.backends.mesos.offers import Need, Offer, SiteMatcher, pack, parse_offer
from framework.mesos.protocol import Resources, ranges, scalar, text_attribute
from framework.spec import parse_spec
from tests.framework.test_spec import GOOD

SPEC = parse_spec(GOOD)  # alpha: attribute site:alpha; beta: region eu zone z1


def raw_offer(i: int, site_attr: str | None = "alpha", region=None, zone=None, cpus=8.0,
              mem=16384.0, disk=100000.0, ports=((31000, 31009),)) -> dict:
    offer = {"id": {"value": f"o{i}"}, "agent_id": {"value": f"a{i}"}, "hostname": f"h{i}",
             "framework_id": {"value": "f"},
             "resources": [scalar("cpus", cpus), scalar("mem", mem), scalar("disk", disk),
                           ranges("ports", ports)],
             "attributes": [text_attribute("site", site_attr)] if site_attr else [],
             "allocation_info": {"role": "htcondor"}}
    if region:
        offer["domain"] = {"fault_domain": {"region": {"name": region},
                                            "zone": {"name": zone or "z"}}}
    return offer


def test_site_by_attribute_or_fault_domain():
    m = SiteMatcher(SPEC.sites)
    assert m.region_aware
    assert parse_offer(raw_offer(1), m).site == "alpha"
    assert parse_offer(raw_offer(2, None, "eu", "z1"), m).site == "beta"
    assert parse_offer(raw_offer(3, None, "eu", "z2"), m).site is None
    assert parse_offer(raw_offer(4, "gamma"), m).site is None
    o = parse_offer(raw_offer(5), m)
    assert (o.id, o.agent_id, o.allocation_role) == ("o5", "a5", "htcondor")
    assert o.resources == Resources(8, 16384, 100000, ((31000, 31009),))


@pytest.mark.parametrize("breakage", [
    lambda o: o.pop("id"), lambda o: o.update(agent_id="x"),
    lambda o: o["resources"][0]["scalar"].update(value="lots"),
])
def test_malformed_offer(breakage):
    offer = raw_offer(1)
    breakage(offer)
    with pytest.raises(ValueError, match="malformed offer"):
        parse_offer(offer, SiteMatcher(SPEC.sites))


def offers(n: int, site: str = "alpha", **kw) -> list[Offer]:
    m = SiteMatcher(SPEC.sites)
    return [parse_offer(raw_offer(i, site, **kw), m) for i in range(n)]


def need(count: int, sites=("alpha",), cpus=4.0, mem=8192.0, disk=1000.0, ports=0, role="executor"):
    return Need(role, frozenset(sites), count, cpus, mem, disk, ports)


def test_packs_many_tasks_across_offers_never_more_than_wanted():
    used, unused = pack(offers(10), [need(7)])
    assert [len(p.tasks) for p in used] == [2, 2, 2, 1]
    assert len(unused) == 6
    assert len({p.offer.id for p in used} | {o.id for o in unused}) == 10  # each offer once


def test_fit_on_every_dimension():
    assert pack(offers(1), [need(1, cpus=8.5)])[0] == []
    assert pack(offers(1), [need(1, mem=16385)])[0] == []
    assert pack(offers(1), [need(1, disk=100001)])[0] == []
    assert pack(offers(1), [need(1, ports=11)])[0] == []
    used, _ = pack(offers(1), [need(3, cpus=2, ports=4)])
    assert [ports for _, ports in used[0].tasks] == [((31000, 31003),), ((31004, 31007),)]


def test_priority_order_and_sites():
    used, unused = pack(offers(2) + offers(1, None, region="eu", zone="z1"),
                        [need(1, ("alpha",), role="master"), need(5, ("beta",))])
    roles = [(p.offer.site, [n.role for n, _ in p.tasks]) for p in used]
    assert roles == [("alpha", ["master"]), ("beta", ["executor", "executor"])]
    assert [o.id for o in unused] == ["o1"]


def test_offers_of_unknown_sites_are_unused():
    used, unused = pack(offers(3, "gamma"), [need(3)])
    assert used == [] and len(unused) == 3


def test_ten_thousand_offers_pack_quickly_and_exactly():
    many = offers(10_000)
    used, unused = pack(many, [need(15_000)])
    assert sum(len(p.tasks) for p in used) == 15_000 and len(unused) == 2_500
