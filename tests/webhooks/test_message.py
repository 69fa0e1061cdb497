"""Webhook messages, their ids and the wait between attempts."""

from __future__ import annotations

import base64
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
from standardwebhooks.webhooks import Webhook

from app.core import ids
from app.core.records import Provider, SessionRecord, SessionStatus, UserRecord
from app.live.events import EventKind, SessionChange
from app.upstream.providers.hyperid.records import HyperIdExtras
from app.webhooks.delivery import RetryPolicy
from app.webhooks.message import message
from app.webhooks.sender import parse_retry_after

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def record(**changes: object) -> SessionRecord:
    made = SessionRecord(
        provider=Provider.KRATOS,
        native_id="n1",
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, "n1"),
        status=SessionStatus.ACTIVE,
        created_at=T0,
        extras=HyperIdExtras(None, None, None, None, None, None, None, None),
        user=UserRecord(Provider.KRATOS, "u1", login_name="ada"),
        expires_at=T0 + timedelta(days=1),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def change(kind: EventKind, at: datetime, found: SessionRecord | None) -> SessionChange:
    return SessionChange(kind, Provider.KRATOS, record().global_id, at, found, 7)


def test_the_same_change_seen_twice_is_one_message() -> None:
    first = message(change(EventKind.CREATED, T0, record()), 1.0)
    later = message(change(EventKind.CREATED, T0 + timedelta(seconds=9), record()), 2.0)
    assert first.id == later.id  # another replica, another poll: the same id
    assert first.id.startswith("msg_")
    ended = message(change(EventKind.ENDED, T0, None), 1.0)
    assert ended.id != first.id
    moved = record(expires_at=T0 + timedelta(days=2))
    updated = message(change(EventKind.UPDATED, T0, moved), 1.0)
    again = message(change(EventKind.UPDATED, T0, record(expires_at=T0 + timedelta(days=3))), 1.0)
    assert updated.id != again.id  # each new state is news


def test_the_payload_is_standard_webhooks_shaped_and_signs() -> None:
    sent = message(change(EventKind.CREATED, T0, record()), 1.0)
    payload = orjson.loads(sent.body)
    assert payload["type"] == "session.created"
    assert payload["timestamp"] == "2026-01-01T00:00:00Z"
    assert payload["data"]["id"] == record().global_id
    assert payload["data"]["user"]["loginName"] == "ada"
    gone = orjson.loads(message(change(EventKind.ENDED, T0, None), 1.0).body)
    assert gone["data"] == {"id": record().global_id, "provider": "KRATOS"}
    signer = Webhook(SECRET)
    now = datetime.now(UTC)
    headers = {
        "webhook-id": sent.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(sent.id, now, sent.body),
    }
    assert Webhook(SECRET).verify(sent.body, headers) == payload


def test_waits_grow_exponentially_with_jitter_up_to_the_most() -> None:
    policy = RetryPolicy(first=1.0, most=30.0, total=3600.0)
    rng = random.Random(1)
    for failures, base in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (200, 30.0)]:
        waits = [policy.delay(failures, rng) for _ in range(50)]
        assert all(base / 2 <= w <= base for w in waits)
        assert len(set(waits)) > 1


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120") == 120.0
    soon = datetime.now(UTC) + timedelta(seconds=60)
    assert 50 <= (parse_retry_after(format_datetime(soon, usegmt=True)) or 0) <= 60
    assert parse_retry_after(format_datetime(T0, usegmt=True)) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
