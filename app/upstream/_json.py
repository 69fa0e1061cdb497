"""Small readers for upstream JSON: absent and null are the same, wrong types raise.

Each reader tests `type(...) is` the exact type the JSON decoder produces first: that case is
nearly every call, and cheaper than isinstance (an ABC check for Mapping). The general checks
after it decide everything else, as they always have.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.upstream.timestamps import parse_rfc3339


def obj(value: Any) -> Mapping[str, Any]:
    """Require a JSON object."""
    if type(value) is dict:
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def opt_str(data: Mapping[str, Any], key: str) -> str | None:
    """An optional string; empty strings count as absent."""
    value = data.get(key)
    if type(value) is str:
        return value or None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def req_str(data: Mapping[str, Any], key: str) -> str:
    """A required, non-empty string."""
    value = opt_str(data, key)
    if value is None:
        raise KeyError(key)
    return value


def opt_bool(data: Mapping[str, Any], key: str) -> bool | None:
    """An optional boolean."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise TypeError(f"{key} is not a boolean")
    return value


def opt_int(data: Mapping[str, Any], key: str) -> int | None:
    """An optional integer (JSON number, or a string of digits as protobuf's uint64)."""
    value = data.get(key)
    if type(value) is int:
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{key} is not an integer")
    # A float stands for an integer only if it is one exactly (e.g. not 2**64 read as 1.8e19).
    if isinstance(value, float) and not (value.is_integer() and abs(value) <= 2**53):
        raise TypeError(f"{key} is not an exact integer")
    return int(value)


def opt_time(data: Mapping[str, Any], key: str) -> datetime | None:
    """An optional RFC 3339 timestamp."""
    value = opt_str(data, key)
    return None if value is None else parse_rfc3339(value)


def list_of(data: Mapping[str, Any], key: str, *, required: bool = False) -> list[Any]:
    """An array; absent or null is empty unless `required`."""
    value = data.get(key)
    if value is None:
        if required:
            raise KeyError(key)
        return []
    if not isinstance(value, list):
        raise TypeError(f"{key} is not an array")
    return value
