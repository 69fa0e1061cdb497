"""Opaque, versioned, signed cursors for the merged session list.

A cursor names the item it stands at (creation time and global id): that key is the truth of
where a walk stands (app/listing/paginate.py). For every stream it also carries the position
just after the item, a hint that the next read checks, so the next page costs one call per
stream; and for a stream that failed, since when it has been left out. The payload is
base64url JSON, HMAC-SHA256 signed with GATEWAY_CURSOR_SECRET.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from app.core.echo import echo
from app.core.errors import BadUserInput

VERSION = "2"
# `missed` of a stream that has failed since the walk's first page.
WALK_START = datetime.min.replace(tzinfo=UTC)
_SIGNATURE_BYTES = 16


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where a page edge stands in the merged order."""

    fingerprint: str  # of filter, order and stream set: a cursor only fits its own query
    created_at: datetime
    global_id: str
    stream: int  # index of the stream the item came from
    offsets: tuple[int, ...]  # per stream: positions below this one are at or before the item
    anchors: tuple[int | None, ...]  # per stream: see app.listing.streams
    # per stream: None, or since when it has been failing (left out of this walk's pages)
    missed: tuple[datetime | None, ...] = ()
    # ids of sessions created in the same instant, shown before this one (`ties_before`, as a
    # forward page remembers them) or after it (a backward page)
    ties: tuple[str, ...] = ()
    ties_before: bool = True

    def __post_init__(self) -> None:
        if not self.missed:
            object.__setattr__(self, "missed", (None,) * len(self.offsets))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and verifies cursors with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, f"{VERSION}.{payload}".encode(), hashlib.sha256)
        return _b64(digest.digest()[:_SIGNATURE_BYTES])

    def encode(self, state: CursorState) -> str:
        """The opaque cursor string for `state`."""
        body = [
            state.fingerprint,
            state.created_at.isoformat(),
            state.global_id,
            state.stream,
            list(state.offsets),
            list(state.anchors),
            [None if m is None else m.isoformat() for m in state.missed],
            list(state.ties),
            state.ties_before,
        ]
        payload = _b64(orjson.dumps(body))  # compact JSON
        return f"{VERSION}.{payload}.{self._sign(payload)}"

    def decode(self, cursor: str, *, argument: str, fingerprint: str, streams: int) -> CursorState:
        """Verify `cursor` (given as `argument`) against the query it is used with."""
        parts = cursor.split(".")
        if len(parts) != 3:
            raise BadUserInput(f"`{argument}` is not a cursor issued by this gateway.")
        version, payload, signature = parts
        if version != VERSION:
            raise BadUserInput(
                f"`{argument}` is a version {echo(version)!r} cursor; this gateway reads version "
                f"{VERSION}. Start again from the first page."
            )
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise BadUserInput(
                f"`{argument}` has an invalid signature: it was altered, or issued by a gateway "
                "with another GATEWAY_CURSOR_SECRET."
            )
        try:
            found, created, global_id, stream, offsets, anchors, missed, ties, before = json.loads(
                _unb64(payload)
            )
            state = CursorState(
                found,
                datetime.fromisoformat(created),
                str(global_id),
                int(stream),
                tuple(int(o) for o in offsets),
                tuple(None if a is None else int(a) for a in anchors),
                tuple(None if m is None else datetime.fromisoformat(m) for m in missed),
                tuple(str(t) for t in ties),
                bool(before),
            )
        except (binascii.Error, ValueError, TypeError):
            raise BadUserInput(f"`{argument}` is not a cursor issued by this gateway.") from None
        if (
            state.fingerprint != fingerprint
            or len(state.offsets) != streams
            or len(state.anchors) != streams
            or len(state.missed) != streams
        ):
            raise BadUserInput(
                f"`{argument}` was issued for a different filter, orderBy or set of providers; "
                "cursors only work with the query that returned them."
            )
        return state
