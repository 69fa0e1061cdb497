"""Request bodies decoded as JSON, with an object that names a key twice refused.

orjson, like most parsers, keeps the last of two equal keys, while a proxy or a log reader in
front of the gateway may keep the first: `{"query": "{ a }", "query": "mutation { b }"}` would
look like a query to one and run a mutation here. RFC 8259 leaves such objects' meaning open,
so the gateway refuses them.

orjson cannot say whether it met a duplicate, so two counts decide, in C: every key is
followed by a colon and any other colon is inside a string. The colons of the raw body (plus
its \\u003a escapes, one colon each once decoded) and those of orjson's encoding of what it
decoded (one after each key it kept, plus those of the strings it kept) are equal when every
key written was kept; a key given twice, dropped, makes the first count larger. Only then (or
for a literal "\\\\u003a", over-counted) is the body parsed again by the standard library, which
names the key.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from app.core.echo import echo


class DuplicateKey(json.JSONDecodeError):
    """A JSON object in the body names one key twice; the message says which.

    A JSONDecodeError, so code that refuses invalid JSON (Strawberry's WebSocket handler)
    refuses this too; orjson's JSONDecodeError is not one of its bases.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)

    def __str__(self) -> str:
        return self.msg


def loads(body: bytes | str) -> Any:
    """`body` decoded by orjson (its JSONDecodeError for invalid JSON), or DuplicateKey."""
    decoded = orjson.loads(body)
    raw = body.encode() if isinstance(body, str) else body
    colons = raw.count(b":")
    if colons and colons + _escaped_colons(raw) != _keys_and_colons(decoded):
        _name_duplicate(raw)
    return decoded


def _keys_and_colons(decoded: object) -> int:
    """Keys of every object in `decoded` plus the colons in its strings: the colons of its
    encoding, as orjson writes a colon only after a key and never escapes one."""
    try:
        return orjson.dumps(decoded).count(b":")
    except orjson.JSONEncodeError:
        return -1  # not expected of what orjson decoded; the slow check decides


def _escaped_colons(raw: bytes) -> int:
    """Colons written as a JSON escape (an over-count only errs towards the slow check)."""
    if b"\\" not in raw:  # one byte: found by memchr, unlike a two-byte needle
        return 0
    return raw.count(b"\\u003a") + raw.count(b"\\u003A")


def _name_duplicate(raw: bytes) -> None:
    """Raise DuplicateKey naming the repeated key (the count may also fail without one)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise DuplicateKey(
                    f"The key '{echo(key)}' appears twice in one JSON object; an object may "
                    "name each key once."
                )
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except DuplicateKey:
        raise
    except (ValueError, RecursionError):
        return  # orjson read it; the standard library's limits are not the gateway's
