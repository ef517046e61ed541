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


#: The fields of a site an operator may change.
FIELDS = ("min", "max", "desired")


def _show(value: Any) -> str:
    """A value as the client sent it (JSON where it is JSON)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
