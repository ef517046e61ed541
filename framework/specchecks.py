"""Field readers for spec validation: each checks one value, records a problem, goes on.

A reader returns the value (or a safe default when it is wrong) so validation continues
and reports every problem of a spec in one run.
"""
from __future__ import annotations

import difflib
import math
import re
from pathlib import Path as Path_
from typing import Any, Iterable

from .errors import SpecProblem
from .yamlpos import LoadedYaml, Path, format_path

_MISSING = object()


def spec_file(value: str, base_dir: Path_) -> Path_:
    """A file the spec names: ``~`` expanded, relative paths from the spec's folder."""
    path = Path_(value).expanduser()
    return path if path.is_absolute() else base_dir / path


class Checker:
    """Collects problems with their YAML path and line."""

    def __init__(self, loaded: LoadedYaml):
        self.loaded = loaded
        self.problems: list[SpecProblem] = list(loaded.problems)

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(SpecProblem(format_path(path), self.loaded.line(path), message))

    # -- containers ---------------------------------------------------------
    def mapping(self, value: Any, path: Path, allowed: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, Any]:
        """Check ``value`` is a mapping with only ``allowed`` keys and every ``required`` one."""
        allowed = list(allowed)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping with keys {', '.join(allowed)}; "
                               f"got {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.problem(path + (key,), f"unknown key '{key}'; {hint}"
                                            f"valid keys here: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.problem(path, f"missing required key '{key}'")
        return {k: v for k, v in value.items() if isinstance(k, str) and k in allowed}

    def sequence(self, value: Any, path: Path, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list of {what}; got {_kind(value)}")
            return []
        return value

    # -- scalars ------------------------------------------------------------
    def string(self, data: dict, key: str, path: Path, default: Any = _MISSING,
               pattern: str | None = None, describe: str = "") -> str:
        value = data.get(key, default)
        if value is _MISSING:
            return ""  # the mapping check reported it missing
        if not isinstance(value, str) or not value.strip():
            self.problem(path + (key,), f"must be a non-empty string{_desc(describe)}; "
                                        f"got {_kind(value)}")
            return "" if default is _MISSING else default
        if pattern and not re.fullmatch(pattern, value):
            self.problem(path + (key,), f"'{value}' is not valid{_desc(describe)}")
        return value

    def number(self, data: dict, key: str, path: Path, default: Any = _MISSING, *,
               minimum: float | None = None, positive: bool = False,
               integer: bool = False, unit: str = "") -> float:
        value = data.get(key, default)
        if value is _MISSING:
            return 1
        kind = "an integer" if integer else "a number"
        unit_s = f" ({unit})" if unit else ""
        ok_type = (isinstance(value, int) if integer else isinstance(value, (int, float)))
        if isinstance(value, bool) or not ok_type or (
                isinstance(value, float) and not math.isfinite(value)):
            self.problem(path + (key,), f"must be {kind}{unit_s}; got {_kind(value)}")
            return 1 if default is _MISSING else default
        if positive and value <= 0:
            self.problem(path + (key,), f"must be positive (> 0){unit_s}; got {value}")
            return 1 if default is _MISSING else default
        if minimum is not None and value < minimum:
            self.problem(path + (key,), f"must be ≥ {minimum}{unit_s}; got {value}")
            return minimum
        return value

    def integer(self, data: dict, key: str, path: Path, default: Any = _MISSING, *,
                minimum: int | None = None, unit: str = "") -> int:
        return int(self.number(data, key, path, default, minimum=minimum, integer=True, unit=unit))

    def boolean(self, data: dict, key: str, path: Path, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(path + (key,), f"must be true or false; got {_kind(value)}")
            return default
        return value

    def choice(self, data: dict, key: str, path: Path, choices: Iterable[str],
               default: Any = _MISSING) -> str:
        choices = list(choices)
        value = data.get(key, default)
        if value is _MISSING:
            return choices[0]
        if value not in choices:
            self.problem(path + (key,), f"must be one of {', '.join(choices)}; got {value!r}")
            return choices[0] if default is _MISSING else default
        return value


def _desc(describe: str) -> str:
    return f" ({describe})" if describe else ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
