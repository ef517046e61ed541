"""Building blocks of the strict call schemas: JSON value specs with proto2 semantics.

A :class:`Msg` knows its fields and which are ``required``; unknown fields, wrong JSON
types, unknown enum names and non-integral integers raise :class:`SchemaError` naming the
JSON path. ``null`` means "unset" (as in Mesos); numbers may be decimal strings.
"""
from __future__ import annotations

import base64
import binascii
import math
from typing import Any


class SchemaError(ValueError):
    """The call does not match the schema; ``str()`` names the JSON path."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or '<call>'}: {message}")
        self.path = path


class Spec:
    name = "value"

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError


class _Str(Spec):
    name = "string"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise SchemaError(path, f"expected a JSON string, got {type(value).__name__}")


class _Bool(Spec):
    name = "boolean"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise SchemaError(path, f"expected true or false, got {value!r:.40}")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise SchemaError(path, "expected a number, got a boolean")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise SchemaError(path, f"expected a number, got {value!r:.40}") from None
    if not isinstance(value, (int, float)):
        raise SchemaError(path, f"expected a number, got {type(value).__name__}")
    return float(value)


class _Double(Spec):
    name = "number"

    def check(self, value: Any, path: str) -> None:
        if math.isnan(_number(value, path)):
            raise SchemaError(path, "NaN is not a valid value")


class _Int(Spec):
    name = "integer"

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def check(self, value: Any, path: str) -> None:
        number = _number(value, path)
        if not number.is_integer() or not self.lo <= number <= self.hi:
            raise SchemaError(path, f"expected an integer in [{self.lo}, {self.hi}], got {value!r:.40}")


class _Bytes(Spec):
    name = "base64 string"

    def check(self, value: Any, path: str) -> None:
        _Str().check(value, path)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SchemaError(path, "bytes must be base64") from None


class Enum(Spec):
    def __init__(self, *values: str):
        self.values = frozenset(values)
        self.name = "one of " + "|".join(sorted(values))

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or value not in self.values:
            raise SchemaError(path, f"expected {self.name}, got {value!r:.60}")


class Msg(Spec):
    """A message: known ``fields`` (name → spec), the proto2 ``required`` ones marked."""

    name = "object"

    def __init__(self, fields: dict[str, Spec] | None = None, required: tuple[str, ...] = ()):
        self.fields: dict[str, Spec] = dict(fields or {})
        self.required = required

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a JSON object, got {type(value).__name__}")
        for key, item in value.items():
            spec = self.fields.get(key)
            where = f"{path}.{key}" if path else key
            if spec is None:
                raise SchemaError(where, "unknown field (not in the Mesos v1 schema)")
            if item is not None:
                spec.check(item, where)
        for key in self.required:
            if value.get(key) is None:
                raise SchemaError(f"{path}.{key}" if path else key, "missing required field")


class AnyObject(Spec):
    """A JSON object whose inside is not checked (rare fields the emulator ignores)."""

    name = "object"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a JSON object, got {type(value).__name__}")


class Lst(Spec):
    def __init__(self, item: Spec):
        self.item = item
        self.name = f"list of {item.name}"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(path, f"expected a JSON array, got {type(value).__name__}")
        for i, item in enumerate(value):
            if item is None:
                raise SchemaError(f"{path}[{i}]", "null inside a list")
            self.item.check(item, f"{path}[{i}]")


STR, BOOL, DOUBLE, BYTES, ANY_OBJECT = _Str(), _Bool(), _Double(), _Bytes(), AnyObject()
INT32, UINT32 = _Int(-2**31, 2**31 - 1), _Int(0, 2**32 - 1)
INT64 = _Int(-2**63, 2**63 - 1)
