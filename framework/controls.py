"""What operators change at run time (REST API, dashboard): per-site bounds and desired
size, drained sites and nodes, paused autoscaling. Pure values; the elastic loop holds
the current :class:`Controls` and hands a copy to the planner every tick.

Semantics (docs/operators.md):

- ``min`` / ``max`` replace the site's ``executors.min`` / ``executors.max`` of the spec.
- ``desired`` (None: the queue decides) holds the site at that many executors, within
  [min, max]: missing ones are launched whatever the queue, idle ones above it are
  drained at once; busy ones stay until their jobs end.
- a drained site launches nothing and drains every executor (running jobs finish);
  ``undrain`` gives it back to the autoscaler.
- a node drain drains one executor (running jobs finish), then removes it.
- ``paused``: the queue launches and drains nothing; minimums, desired sizes and the
  operator's drains are still carried out, and drains in progress finish.

:meth:`Controls.to_doc` and :meth:`Controls.from_doc` turn them into a JSON-ready document
and back (a framework keeps it with its state, so a restart keeps the operators' changes).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import HtcmesosError
from .spec import ClusterSpec


class ControlError(HtcmesosError):
    """An operator request that cannot be taken (the API's 4xx); ``status`` says which."""

    status = 400


class InvalidControl(ControlError):
    """Malformed or contradictory values (400): the message names the field and why."""

    status = 400


class UnknownSite(ControlError):
    """No site of that name in the pool (404); the message names it and the sites."""

    status = 404


class UnknownNode(ControlError):
    """No live executor of that name (404); the message names it."""

    status = 404


class NotOperable(ControlError):
    """The pool does not take this request now (409): CLUES sizes it
    (``autoscaling.driver: clues``)."""

    status = 409


@dataclass(frozen=True)
class SiteControl:
    """One site's run-time bounds and target."""

    min: int
    max: int
    desired: int | None = None      # None: the queue decides
    drained: bool = False           # the operator drained the whole site


@dataclass(frozen=True)
class Controls:
    """The operator's settings for the whole pool."""

    sites: Mapping[str, SiteControl] = field(default_factory=dict)
    paused: bool = False
    #: task ids of executors the operator asked to drain (until they are removed)
    node_drains: frozenset[str] = frozenset()

    @classmethod
    def from_spec(cls, spec: ClusterSpec) -> "Controls":
        """The spec's bounds, nothing changed."""
        return cls({s.name: SiteControl(s.executors_min, s.executors_max) for s in spec.sites})

    def site(self, name: str) -> SiteControl:
        """The site's controls; UnknownSite naming the pool's sites otherwise."""
        try:
            return self.sites[name]
        except KeyError:
            raise UnknownSite(f"no site {name!r} in this pool (its sites: "
                              f"{', '.join(sorted(self.sites)) or 'none'})") from None

    def effective_spec(self, spec: ClusterSpec) -> ClusterSpec:
        """``spec`` with each site's executors.min/max replaced by these bounds (a drained
        site: 0/0)."""
        sites = []
        for s in spec.sites:
            c = self.sites.get(s.name)
            if c is None:
                sites.append(s)
                continue
            lo, hi = (0, 0) if c.drained else (c.min, c.max)
            sites.append(dataclasses.replace(s, executors_min=lo, executors_max=hi))
        return dataclasses.replace(spec, sites=tuple(sites))

    def with_site(self, name: str, changes: Mapping[str, Any]) -> "Controls":
        """These controls with ``changes`` (keys ``min``, ``max``, ``desired``) applied to
        one site; InvalidControl / UnknownSite (nothing changed) when they cannot be."""
        current = self.site(name)
        if not isinstance(changes, Mapping):
            raise InvalidControl(f"the changes to site {name} must be an object with min, "
                                 f"max or desired, got {_show(changes)}")
        unknown = sorted(str(k) for k in changes if k not in FIELDS)
        if unknown:
            raise InvalidControl(f"unknown field(s) {', '.join(map(repr, unknown))} for site "
                                 f"{name}: a site takes {', '.join(FIELDS)}")
        for key, value in changes.items():
            if value is None and key == "desired":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                also = " or null (the queue decides)" if key == "desired" else ""
                raise InvalidControl(f"{key} must be a whole number ≥ 0{also}, "
                                     f"got {_show(value)}")
        new = dataclasses.replace(current, **{str(k): v for k, v in changes.items()})
        if new.min > new.max:
            raise InvalidControl(f"min {new.min} is above max {new.max} at site {name}")
        if new.desired is not None and not new.min <= new.desired <= new.max:
            side = "below min" if new.desired < new.min else "above max"
            bound = new.min if new.desired < new.min else new.max
            raise InvalidControl(f"desired {new.desired} is {side} {bound} at site {name} "
                                 f"(it must be within min {new.min} and max {new.max})")
        return self._replace_site(name, new)

    def with_drained(self, name: str, drained: bool) -> "Controls":
        """These controls with the site drained (True) or given back (False)."""
        return self._replace_site(name, dataclasses.replace(self.site(name),
                                                            drained=bool(drained)))

    def with_node_drain(self, task_id: str) -> "Controls":
        """These controls with the operator's drain of one executor task."""
        return dataclasses.replace(self, node_drains=self.node_drains | {task_id})

    def without_node_drains(self, done: Iterable[str]) -> "Controls":
        """These controls without the node drains of ``done`` (their tasks are gone)."""
        gone = frozenset(done) & self.node_drains
        if not gone:
            return self
        return dataclasses.replace(self, node_drains=self.node_drains - gone)

    def with_paused(self, paused: bool) -> "Controls":
        """These controls with autoscaling paused (True) or resumed."""
        return dataclasses.replace(self, paused=bool(paused))

    def _replace_site(self, name: str, control: SiteControl) -> "Controls":
        return dataclasses.replace(self, sites={**self.sites, name: control})

    # -- saved and restored ----------------------------------------------------------

    def to_doc(self, spec: ClusterSpec | None = None) -> dict[str, Any]:
        """A JSON-ready document: ``{"paused": bool, "sites": {name: {"min", "max",
        "desired", "drained"}}, "node_drains": [task ids]}``. With ``spec``, each of its
        sites also records the spec's bounds then (``"spec": {"min", "max"}``), so
        :meth:`from_doc` can tell a spec edited since from the operator's bounds."""
        bounds = {s.name: (s.executors_min, s.executors_max) for s in spec.sites} if spec else {}
        sites: dict[str, Any] = {}
        for name, c in sorted(self.sites.items()):
            sites[name] = {"min": c.min, "max": c.max, "desired": c.desired,
                           "drained": c.drained}
            if name in bounds:
                sites[name]["spec"] = {"min": bounds[name][0], "max": bounds[name][1]}
        return {"paused": self.paused, "sites": sites, "node_drains": sorted(self.node_drains)}

    @classmethod
    def from_doc(cls, doc: Any, spec: ClusterSpec) -> tuple[Controls, list[str]]:
        """The controls of a :meth:`to_doc` document for ``spec``, and a sentence for each
        part dropped. It starts from :meth:`from_spec` and takes each saved site the spec
        still has whose values still validate (the rules of :meth:`with_site`). A site's
        saved min/max give way to the spec's when the spec's own bounds changed since they
        were saved (the edited spec wins; a saved desired size stays if it fits). A
        document of the wrong shape gives the spec's controls and one sentence. Pure."""
        base = cls.from_spec(spec)
        shape = _shape_problem(doc)
        if shape:
            return base, [f"saved controls dropped: {shape}; the pool starts from the "
                          f"spec's bounds"]
        notes: list[str] = []
        controls = base.with_paused(doc.get("paused", False))
        spec_bounds = {s.name: (s.executors_min, s.executors_max) for s in spec.sites}
        for name, saved in doc.get("sites", {}).items():
            if name not in spec_bounds:
                notes.append(f"saved controls of site {name!r} dropped: the spec has no "
                             f"such site")
                continue
            try:
                controls = _restore_site(controls, name, saved, spec_bounds[name], notes)
            except InvalidControl as exc:
                notes.append(f"saved controls of site {name!r} dropped: {exc}")
        drains = frozenset(doc.get("node_drains", ()))
        return dataclasses.replace(controls, node_drains=drains), notes

    def differences(self, spec: ClusterSpec) -> list[str]:
        """What these controls change from the spec's, in words (empty: nothing)."""
        base = Controls.from_spec(spec).sites
        out = []
        for name, c in sorted(self.sites.items()):
            said = []
            b = base.get(name)
            if b is None or (c.min, c.max) != (b.min, b.max):
                said.append(f"min {c.min}, max {c.max}")
            if c.desired is not None:
                said.append(f"desired {c.desired}")
            if c.drained:
                said.append("drained")
            if said:
                out.append(f"site {name} {', '.join(said)}")
        if self.node_drains:
            out.append(f"{len(self.node_drains)} node drain(s)")
        if self.paused:
            out.append("autoscaling paused")
        return out


#: The fields of a site an operator may change.
FIELDS = ("min", "max", "desired")


def _shape_problem(doc: Any) -> str:
    """What makes ``doc`` no :meth:`Controls.to_doc` document ('' when it is one)."""
    if not isinstance(doc, Mapping):
        return f"they are not an object but {_show(doc)[:80]}"
    if not isinstance(doc.get("paused", False), bool):
        return f"'paused' is not true or false but {_show(doc['paused'])[:80]}"
    if not isinstance(doc.get("sites", {}), Mapping):
        return f"'sites' is not an object but {_show(doc['sites'])[:80]}"
    drains = doc.get("node_drains", [])
    if not isinstance(drains, list) or not all(isinstance(t, str) for t in drains):
        return f"'node_drains' is not a list of task ids but {_show(drains)[:80]}"
    return ""


def _restore_site(controls: Controls, name: str, saved: Any, spec_now: tuple[int, int],
                  notes: list[str]) -> Controls:
    """``controls`` with one saved site; InvalidControl when it is dropped whole. Saved
    bounds whose spec bounds changed since are dropped (a sentence in ``notes``), and so
    is a desired size that does not fit the spec's bounds then."""
    if not isinstance(saved, Mapping):
        raise InvalidControl(f"not an object but {_show(saved)[:80]}")
    drained = saved.get("drained", False)
    if not isinstance(drained, bool):
        raise InvalidControl(f"drained must be true or false, got {_show(drained)[:80]}")
    then = saved.get("spec")
    if then is not None and not isinstance(then, Mapping):
        raise InvalidControl(f"'spec' is not an object but {_show(then)[:80]}")
    changes = {k: saved[k] for k in FIELDS if k in saved}
    if then is not None and (then.get("min"), then.get("max")) != spec_now:
        lo, hi = changes.pop("min", None), changes.pop("max", None)
        if (lo, hi) == (then.get("min"), then.get("max")):
            return controls.with_site(name, _fitting(controls, name, changes, notes)) \
                .with_drained(name, drained)          # the spec's bounds, never overridden
        notes.append(f"saved bounds of site {name!r} (min {_show(lo)}, max {_show(hi)}) "
                     f"dropped: the spec's bounds changed since they were saved (min "
                     f"{_show(then.get('min'))}, max {_show(then.get('max'))} then; min "
                     f"{spec_now[0]}, max {spec_now[1]} now)")
        changes = _fitting(controls, name, changes, notes)
    return controls.with_site(name, changes).with_drained(name, drained)


def _fitting(controls: Controls, name: str, changes: dict[str, Any],
             notes: list[str]) -> dict[str, Any]:
    """``changes`` (a saved desired size alone) if they fit the site's bounds, else none
    and a sentence in ``notes``."""
    try:
        controls.with_site(name, changes)
    except InvalidControl as exc:
        notes.append(f"saved desired size of site {name!r} dropped: {exc}")
        return {}
    return changes


def _show(value: Any) -> str:
    """A value as the client sent it (JSON where it is JSON)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
