"""What ``apply`` would change: a pure comparison of the rendered group with Marathon's.

Only the fields htcmesos renders are compared, after reading the current app the way
Marathon normalises it: Marathon fills defaults into what it stores (``delaySeconds`` of a
health check, ``servicePort`` of a port mapping, ``ipProtocol``, …), so an object that
Marathon completed compares on the keys we render. Free-form maps (``env``, ``labels``,
``secrets``) and every list compare whole: a removed variable or volume is a change.
Executor apps keep the ``instances`` Marathon has (the autoscaler owns them) unless that
is below the site's ``executors.min``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from ...model import Role
from ..roleparts import LABEL_ROLE

#: maps whose keys are the operator's (or ours), not Marathon's: compared whole
_FREE_FORM = frozenset({"env", "labels", "secrets"})
_SHOWN = 60                                     # characters of a value the diff shows

CREATE, UPDATE, REMOVE, UNCHANGED = "create", "update", "remove", "unchanged"


@dataclass(frozen=True)
class AppChange:
    """One app's fate: ``action`` and, for an update, the readable field changes."""

    app_id: str
    action: str
    diffs: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        mark = {CREATE: "+", UPDATE: "~", REMOVE: "-", UNCHANGED: "="}[self.action]
        if self.action == UPDATE:
            return [f"{mark} {self.app_id}: {d}" for d in self.diffs]
        what = {CREATE: "new app", REMOVE: "no longer in the spec",
                UNCHANGED: "unchanged"}[self.action]
        return [f"{mark} {self.app_id}: {what}"]


@dataclass(frozen=True)
class ApplyPlan:
    """The group to send (``desired``, executor instances already settled) and why."""

    group_id: str
    create_group: bool
    changes: tuple[AppChange, ...]
    desired: dict[str, Any] = field(repr=False)

    @property
    def changed(self) -> bool:
        return self.create_group or any(c.action != UNCHANGED for c in self.changes)

    def describe(self) -> list[str]:
        """The diff, one line per change (``+`` new, ``~`` field, ``-`` removed)."""
        head = [f"+ {self.group_id}: new group"] if self.create_group else []
        return head + [line for c in self.changes for line in c.lines()]


def _is_executor(app: dict[str, Any]) -> bool:
    return (app.get("labels") or {}).get(LABEL_ROLE) == Role.EXECUTOR.value


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
            and not isinstance(b, bool) and float(a) == float(b))


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN - 12]}… ({len(text)} chars)"


def _walk(want: Any, have: Any, path: str, out: list[str], free_form: bool = False) -> None:
    """Readable differences of ``want`` (rendered) against ``have`` (Marathon's)."""
    if isinstance(want, dict) and isinstance(have, dict):
        keys = list(want) + ([k for k in have if k not in want] if free_form else [])
        for key in keys:
            sub = f"{path}.{key}" if path else str(key)
            if key not in have:
                if want[key] in ([], {}):     # Marathon leaves some empty fields out
                    continue
                out.append(f"{sub}: (absent) → {_show(want[key])}")
            elif key not in want:
                out.append(f"{sub}: {_show(have[key])} → (removed)")
            else:
                _walk(want[key], have[key], sub, out,
                      free_form=not path and key in _FREE_FORM)
        return
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for i, (w, h) in enumerate(zip(want, have)):
            _walk(w, h, f"{path}[{i}]", out, free_form=free_form)
        return
    if want != have and not _same_number(want, have):
        out.append(f"{path}: {_show(have)} → {_show(want)}")


def app_diff(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """Field by field, what applying ``want`` changes in Marathon's ``have``."""
    out: list[str] = []
    _walk({k: v for k, v in want.items() if k != "id"}, have, "", out)
    return out


def settle_instances(want: dict[str, Any], have: dict[str, Any] | None) -> dict[str, Any]:
    """``want`` with an executor app's ``instances`` kept at Marathon's value (the
    autoscaler's), raised to the rendered minimum if below it."""
    if have is None or not _is_executor(want):
        return want
    current = have.get("instances")
    if isinstance(current, (int, float)) and not isinstance(current, bool) and \
            current >= int(want.get("instances", 0)):
        return {**want, "instances": int(current)}
    return want


def plan_apply(desired_group: dict[str, Any],
               current_group: dict[str, Any] | None) -> ApplyPlan:
    """Create the group when absent; per app create / update / remove / unchanged."""
    desired = copy.deepcopy(desired_group)
    gid = desired["id"]
    current = {a["id"]: a for a in (current_group or {}).get("apps") or []}
    changes: list[AppChange] = []
    settled = []
    for want in desired.get("apps", []):
        have = current.get(want["id"])
        want = settle_instances(want, have)
        settled.append(want)
        if have is None:
            changes.append(AppChange(want["id"], CREATE))
            continue
        diffs = app_diff(want, have)
        changes.append(AppChange(want["id"], UPDATE if diffs else UNCHANGED, tuple(diffs)))
    wanted = {a["id"] for a in settled}
    changes += [AppChange(i, REMOVE) for i in current if i not in wanted]
    desired["apps"] = settled
    return ApplyPlan(gid, current_group is None, tuple(changes), desired)
