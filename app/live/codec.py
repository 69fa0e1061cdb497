"""Session changes as JSON, for the event bus replicas share through Redis.

Records are frozen dataclasses of plain values, datetimes, enums and nested records; each is
written with its class's name, and read back only into a class of the record vocabulary
(app/core/records.py, and every provider's `Extras` with the records beside it). Anything else
in a message is refused: whoever can write to Redis must not choose what gets built here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.core import records
from app.core.records import Extras, Provider, SessionRecord
from app.live.events import EndReason, EventKind, LiveProblem, SessionChange


class CodecError(ValueError):
    """A message that is not a session change this gateway wrote."""


def _vocabulary() -> dict[str, type]:
    """The classes a message may name: the record module's and each provider's records module's."""
    modules = {records.__name__}
    pending = list(Extras.__subclasses__())
    while pending:
        cls = pending.pop()
        modules.add(cls.__module__)
        pending.extend(cls.__subclasses__())
    found: dict[str, type] = {}
    for name in modules:
        for value in vars(sys.modules[name]).values():
            mine = isinstance(value, type) and value.__module__ == name
            if mine and (dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)):
                found[f"{name}.{value.__qualname__}"] = value
    return found


_classes: dict[str, type] = {}


def _class(name: str) -> type:
    if name not in _classes:
        _classes.clear()
        _classes.update(_vocabulary())  # a provider package loaded later adds its records
    try:
        return _classes[name]
    except KeyError:
        raise CodecError(f"unknown record class {name!r}") from None


def _dump(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, enum.Enum):
        cls = type(value)
        return {"$e": f"{cls.__module__}.{cls.__qualname__}", "v": value.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$c": f"{kind.__module__}.{kind.__qualname__}", "f": fields}
    if isinstance(value, records.Deferred):
        try:
            items = list(value)
        except Exception:  # a bad upstream shape fails that field when read, not the event
            items = []
        return {"$l": [_dump(item) for item in items]}
    if isinstance(value, Sequence):
        return {"$l": [_dump(item) for item in value]}
    raise CodecError(f"cannot encode a {type(value).__name__}")


def _load(value: Any) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise CodecError("a bare list")
        return value
    if "$t" in value:
        return datetime.fromisoformat(value["$t"])
    if "$l" in value:
        return tuple(_load(item) for item in value["$l"])
    if "$e" in value:
        cls = _class(value["$e"])
        if not issubclass(cls, enum.Enum):
            raise CodecError(f"{value['$e']} is not an enum")
        return cls(value["v"])
    if "$c" in value:
        cls = _class(value["$c"])
        if not dataclasses.is_dataclass(cls):
            raise CodecError(f"{value['$c']} is not a record")
        try:
            return cls(**{k: _load(v) for k, v in value["f"].items()})
        except TypeError as exc:
            raise CodecError(str(exc)) from None
    raise CodecError("an untagged object")


def dump_record(record: SessionRecord) -> bytes:
    return json.dumps(_dump(record), separators=(",", ":")).encode()


def load_record(data: bytes) -> SessionRecord:
    record = _load(json.loads(data))
    if not isinstance(record, SessionRecord):
        raise CodecError("not a session record")
    return record


def dump_change(change: SessionChange) -> bytes:
    body = {
        "k": change.kind.value,
        "p": change.provider.value,
        "g": change.global_id,
        "a": change.at.isoformat(),
        "r": _dump(change.record) if change.record is not None else None,
        "n": change.reason.value if change.reason is not None else None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_change(data: bytes, sequence: int) -> SessionChange:
    try:
        body = json.loads(data)
        record = _load(body["r"]) if body["r"] is not None else None
        if record is not None and not isinstance(record, SessionRecord):
            raise CodecError("not a session record")
        reason = body.get("n")  # absent from events an older gateway wrote
        return SessionChange(
            EventKind(body["k"]),
            Provider(body["p"]),
            str(body["g"]),
            datetime.fromisoformat(body["a"]),
            record,
            sequence,
            EndReason(reason) if reason is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"not a session change: {exc}") from None


def dump_problem(problem: LiveProblem) -> bytes:
    provider = problem.provider.value if problem.provider is not None else None
    body = {"c": problem.code, "m": problem.message, "p": provider, "f": problem.final}
    return json.dumps(body, separators=(",", ":")).encode()


def load_problem(data: bytes) -> LiveProblem:
    try:
        body = json.loads(data)
        provider = Provider(body["p"]) if body["p"] is not None else None
        return LiveProblem(str(body["c"]), str(body["m"]), provider, bool(body["f"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"not a problem: {exc}") from None
