"""The operator's controls: validation (what is wrong, named), purity, the effective spec."""
from __future__ import annotations

import json

import pytest

from framework.controls import Controls, ControlError, InvalidControl, SiteControl, UnknownSite
from framework.errors import HtcmesosError
from framework.spec import parse_spec
# two sites (dc: 1–5 executors, campus: 0–3), min_executors 1, max_executors 6
from tests.framework.planner.test_planner import SPEC, SPEC_TEXT


def test_from_spec_takes_the_bounds():
    c = Controls.from_spec(SPEC)
    assert c.sites == {"dc": SiteControl(1, 5), "campus": SiteControl(0, 3)}
    assert not c.paused and c.node_drains == frozenset()


def test_with_site_sets_bounds_and_desired_and_never_mutates():
    c = Controls.from_spec(SPEC)
    d = c.with_site("dc", {"min": 2, "max": 4, "desired": 3})
    assert d.site("dc") == SiteControl(2, 4, 3)
    assert c.site("dc") == SiteControl(1, 5)                 # the original is untouched
    assert d.site("campus") == SiteControl(0, 3)
    e = d.with_site("dc", {"desired": None})
    assert e.site("dc") == SiteControl(2, 4, None)
    assert d.with_site("dc", {}).site("dc") == SiteControl(2, 4, 3)


@pytest.mark.parametrize("changes, message", [
    ({"min": 1.5}, "min must be a whole number ≥ 0, got 1.5"),
    ({"max": -1}, "max must be a whole number ≥ 0, got -1"),
    ({"max": "3"}, 'max must be a whole number ≥ 0, got "3"'),
    ({"min": True}, "min must be a whole number ≥ 0, got true"),
    ({"min": None}, "min must be a whole number ≥ 0, got null"),
    ({"desired": 2.0}, "desired must be a whole number ≥ 0 or null (the queue decides), "
                       "got 2.0"),
    ({"min": 5, "max": 3}, "min 5 is above max 3 at site dc"),
    ({"min": 6}, "min 6 is above max 5 at site dc"),
    ({"desired": 6}, "desired 6 is above max 5 at site dc (it must be within min 1 and max 5)"),
    ({"desired": 0}, "desired 0 is below min 1 at site dc (it must be within min 1 and max 5)"),
    ({"size": 3}, "unknown field(s) 'size' for site dc: a site takes min, max, desired"),
    ([1, 2], "the changes to site dc must be an object with min, max or desired, got [1, 2]"),
])
def test_bad_changes_are_refused_naming_what_is_wrong(changes, message):
    c = Controls.from_spec(SPEC)
    with pytest.raises(InvalidControl) as err:
        c.with_site("dc", changes)
    assert str(err.value) == message
    assert err.value.status == 400
    assert c.site("dc") == SiteControl(1, 5)


def test_desired_outside_new_bounds_is_refused():
    c = Controls.from_spec(SPEC).with_site("dc", {"desired": 4})
    with pytest.raises(InvalidControl, match=r"^desired 4 is above max 3 at site dc"):
        c.with_site("dc", {"max": 3})
    assert c.with_site("dc", {"max": 3, "desired": None}).site("dc") == SiteControl(1, 3)


def test_unknown_site_names_it_and_the_sites():
    c = Controls.from_spec(SPEC)
    for call in (lambda: c.with_site("moon", {"min": 1}), lambda: c.with_drained("moon", True),
                 lambda: c.site("moon")):
        with pytest.raises(UnknownSite) as err:
            call()
        assert str(err.value) == "no site 'moon' in this pool (its sites: campus, dc)"
        assert err.value.status == 404
        assert isinstance(err.value, ControlError) and isinstance(err.value, HtcmesosError)


def test_drained_nodes_and_paused():
    c = Controls.from_spec(SPEC)
    d = c.with_drained("campus", True).with_node_drain("t-1").with_node_drain("t-2")
    d = d.with_paused(True)
    assert d.site("campus") == SiteControl(0, 3, None, True) and d.paused
    assert d.node_drains == {"t-1", "t-2"}
    assert d.without_node_drains(["t-1", "t-9"]).node_drains == {"t-2"}
    assert d.without_node_drains(["t-9"]) is d
    assert c.site("campus").drained is False and not c.paused and not c.node_drains
    back = d.with_drained("campus", False).with_paused(False)
    assert back.site("campus") == SiteControl(0, 3) and not back.paused


def test_effective_spec_replaces_bounds_and_zeroes_drained_sites():
    c = Controls.from_spec(SPEC).with_site("dc", {"min": 2, "max": 4}).with_drained("campus", True)
    eff = c.effective_spec(SPEC)
    assert [(s.name, s.executors_min, s.executors_max) for s in eff.sites] == \
        [("dc", 2, 4), ("campus", 0, 0)]
    assert [(s.executors_min, s.executors_max) for s in SPEC.sites] == [(1, 5), (0, 3)]


# -- saved and restored (to_doc / from_doc) ------------------------------------------

def changed() -> Controls:
    return (Controls.from_spec(SPEC).with_site("dc", {"min": 2, "max": 4, "desired": 3})
            .with_drained("campus", True).with_node_drain("t-2").with_node_drain("t-1")
            .with_paused(True))


def test_to_doc_is_json_ready_and_from_doc_gives_the_same_controls_back():
    doc = changed().to_doc()
    assert doc == {"paused": True, "node_drains": ["t-1", "t-2"], "sites": {
        "campus": {"min": 0, "max": 3, "desired": None, "drained": True},
        "dc": {"min": 2, "max": 4, "desired": 3, "drained": False}}}
    assert json.loads(json.dumps(doc)) == doc
    assert Controls.from_doc(doc, SPEC) == (changed(), [])
    with_spec = changed().to_doc(SPEC)
    assert with_spec["sites"]["dc"]["spec"] == {"min": 1, "max": 5}
    assert with_spec["sites"]["campus"]["spec"] == {"min": 0, "max": 3}
    assert Controls.from_doc(with_spec, SPEC) == (changed(), [])
    assert Controls.from_doc({}, SPEC) == (Controls.from_spec(SPEC), [])
    # keys it does not know (a later version's) are passed over; missing ones: the spec's
    later = {"sites": {"dc": {"desired": 2, "note": "x"}}, "owner": "ops"}
    assert Controls.from_doc(later, SPEC) == (
        Controls.from_spec(SPEC).with_site("dc", {"desired": 2}), [])


def test_a_site_the_spec_no_longer_has_is_dropped_and_said():
    doc = changed().to_doc()
    doc["sites"]["lab"] = {"min": 0, "max": 1, "desired": None, "drained": True}
    controls, notes = Controls.from_doc(doc, SPEC)
    assert controls == changed()
    assert notes == ["saved controls of site 'lab' dropped: the spec has no such site"]


@pytest.mark.parametrize("site, note", [
    ({"min": 4, "max": 2, "desired": None, "drained": True},
     "saved controls of site 'dc' dropped: min 4 is above max 2 at site dc"),
    ({"min": 1, "max": 5, "desired": 9, "drained": False},
     "saved controls of site 'dc' dropped: desired 9 is above max 5 at site dc "
     "(it must be within min 1 and max 5)"),
    ({"min": "1", "max": 5, "desired": None, "drained": False},
     'saved controls of site \'dc\' dropped: min must be a whole number ≥ 0, got "1"'),
    ({"min": 1, "max": 5, "desired": None, "drained": "yes"},
     'saved controls of site \'dc\' dropped: drained must be true or false, got "yes"'),
    ([1, 5], "saved controls of site 'dc' dropped: not an object but [1, 5]"),
    ({"min": 1, "max": 5, "spec": 3},
     "saved controls of site 'dc' dropped: 'spec' is not an object but 3"),
])
def test_a_saved_site_whose_values_do_not_validate_is_dropped_whole(site, note):
    doc = changed().to_doc()
    doc["sites"]["dc"] = site
    controls, notes = Controls.from_doc(doc, SPEC)
    assert notes == [note]
    assert controls.site("dc") == SiteControl(1, 5)           # the spec's
    assert controls.site("campus") == SiteControl(0, 3, None, True) and controls.paused


@pytest.mark.parametrize("doc, what", [
    ([1, 2], "they are not an object but [1, 2]"),
    ("drained", 'they are not an object but "drained"'),
    ({"paused": "no"}, "'paused' is not true or false but \"no\""),
    ({"sites": [1]}, "'sites' is not an object but [1]"),
    ({"node_drains": "t-1"}, "'node_drains' is not a list of task ids but \"t-1\""),
    ({"node_drains": ["t-1", 2]}, "'node_drains' is not a list of task ids but [\"t-1\", 2]"),
])
def test_a_document_of_the_wrong_shape_gives_the_spec_and_one_sentence(doc, what):
    assert Controls.from_doc(doc, SPEC) == (Controls.from_spec(SPEC), [
        f"saved controls dropped: {what}; the pool starts from the spec's bounds"])


# the same pool, its sites' bounds edited: dc 0–2, campus 1–6
SPEC_EDITED = parse_spec(SPEC_TEXT.replace("{min: 1, max: 5}", "{min: 0, max: 2}")
                         .replace("{min: 0, max: 3}", "{min: 1, max: 6}"))


def test_bounds_of_an_edited_spec_win_over_saved_ones():
    """dc: the operator's bounds 2–4 (spec 1–5 then) give way to the new spec's 0–2, and
    the desired 3 does not fit them; campus: bounds never changed follow the spec silently
    and its drain stays."""
    doc = changed().to_doc(SPEC)
    controls, notes = Controls.from_doc(doc, SPEC_EDITED)
    assert controls.site("dc") == SiteControl(0, 2)
    assert controls.site("campus") == SiteControl(1, 6, None, True)
    assert controls.paused and controls.node_drains == {"t-1", "t-2"}
    assert notes == [
        "saved bounds of site 'dc' (min 2, max 4) dropped: the spec's bounds changed since "
        "they were saved (min 1, max 5 then; min 0, max 2 now)",
        "saved desired size of site 'dc' dropped: desired 3 is above max 2 at site dc (it "
        "must be within min 0 and max 2)"]
    fits = Controls.from_spec(SPEC).with_site("dc", {"desired": 2}).to_doc(SPEC)
    assert Controls.from_doc(fits, SPEC_EDITED) == (
        Controls.from_spec(SPEC_EDITED).with_site("dc", {"desired": 2}), [])


def test_differences_name_what_the_operator_changed():
    assert Controls.from_spec(SPEC).differences(SPEC) == []
    assert changed().differences(SPEC) == ["site campus drained",
                                           "site dc min 2, max 4, desired 3",
                                           "2 node drain(s)", "autoscaling paused"]
