"""A webhook message: one session event as the Standard Webhooks payload, with a stable id.

The id is derived from the change itself (kind, session, and for UPDATED the state it changed
to), not from the process that saw it: replicas that each see the same change queue it once,
and a receiver that deduplicates by `webhook-id` sees each event once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from app.core.records import SessionRecord
from app.live.events import EventKind, SessionChange

TYPES = {
    EventKind.CREATED: "session.created",
    EventKind.UPDATED: "session.updated",
    EventKind.ENDED: "session.ended",
}


@dataclass(frozen=True, slots=True)
class Message:
    """What one endpoint is to receive; `queued` (epoch seconds) starts its retry window."""

    id: str
    session: str  # the global session id: messages of one session are delivered in order
    type: str
    body: bytes
    queued: float

    def fields(self) -> dict[str, str | bytes]:
        """As a Redis stream entry."""
        return {
            "id": self.id,
            "session": self.session,
            "type": self.type,
            "body": self.body,
            "queued": repr(self.queued),
        }

    @classmethod
    def of_fields(cls, fields: dict[bytes, bytes]) -> Message:
        return cls(
            fields[b"id"].decode(),
            fields[b"session"].decode(),
            fields[b"type"].decode(),
            fields[b"body"],
            float(fields[b"queued"]),
        )


def message(change: SessionChange, queued: float) -> Message:
    """`change` as a message queued at `queued`."""
    kind = TYPES[change.kind]
    payload = {"type": kind, "timestamp": _time(change.at), "data": _data(change)}
    return Message(_id(change), change.global_id, kind, orjson.dumps(payload), queued)


def _id(change: SessionChange) -> str:
    parts = [change.kind.value, change.global_id]
    record = change.record
    if change.kind is EventKind.CREATED and record is not None:
        parts.append(_time(record.created_at) or "")
    elif change.kind is EventKind.UPDATED and record is not None:
        parts += [
            record.status.value,
            _time(record.expires_at) or "",
            _time(record.last_seen_at) or "",
            repr(record.factors),
        ]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return f"msg_{digest}"


def _data(change: SessionChange) -> dict[str, Any]:
    data: dict[str, Any] = {"id": change.global_id, "provider": change.provider.value}
    if change.record is not None:
        data.update(_session(change.record))
    if change.reason is not None:  # why an ENDED session ended (SessionEndReason)
        data["reason"] = change.reason.value
    return data


def _session(record: SessionRecord) -> dict[str, Any]:
    user = record.user
    agent = record.user_agent
    return {
        "nativeId": record.native_id,
        "status": record.status.value,
        "createdAt": _time(record.created_at),
        "expiresAt": _time(record.expires_at),
        "lastSeenAt": _time(record.last_seen_at),
        "remoteAddress": record.remote_address,
        "userAgent": agent.raw if agent is not None else None,
        "user": None
        if user is None
        else {
            "nativeId": user.native_id,
            "loginName": user.login_name,
            "displayName": user.display_name,
        },
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
