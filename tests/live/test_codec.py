"""Session changes through the JSON the replicas share: back as they were, or refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.core import ids
from app.core.records import (
    FactorRecord,
    FactorsRecord,
    Provider,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.live.codec import CodecError, dump_change, load_change, load_record
from app.live.events import EventKind, SessionChange
from app.upstream.providers.kratos.records import KratosExtras, KratosMethodRecord

T0 = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


def kratos_record() -> SessionRecord:
    extras = KratosExtras(
        active=True,
        aal="aal2",
        authenticated_at=T0,
        methods=(
            KratosMethodRecord("password", "aal1", T0),
            KratosMethodRecord("totp", None, None),
        ),
        devices=(),
        identity_state="active",
        schema_id=None,
    )
    return SessionRecord(
        provider=Provider.KRATOS,
        native_id="s1",
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, "s1"),
        status=SessionStatus.ACTIVE,
        created_at=T0,
        extras=extras,
        user=UserRecord(Provider.KRATOS, "u1", login_name="ada"),
        expires_at=T0,
        user_agent=UserAgentRecord(raw="curl/8", ip="203.0.113.7"),
        factors=FactorsRecord(password=FactorRecord(T0, True)),
    )


def test_a_change_comes_back_as_it_was_with_the_streams_sequence() -> None:
    change = SessionChange(EventKind.CREATED, Provider.KRATOS, "g1", T0, kratos_record())
    back = load_change(dump_change(change), 42)
    assert back.sequence == 42
    assert back == SessionChange(change.kind, change.provider, "g1", T0, change.record, 42)


def test_an_ended_session_that_is_gone_has_no_record() -> None:
    change = SessionChange(EventKind.ENDED, Provider.PRIVX, "g2", T0, None)
    assert load_change(dump_change(change), 7).record is None


@pytest.mark.parametrize(
    "record",
    [
        {"$c": "os.system", "f": {}},
        {"$c": "app.settings.Settings", "f": {}},
        {"$e": "subprocess.Popen", "v": "x"},
        {"untagged": 1},
    ],
)
def test_a_class_outside_the_record_vocabulary_is_refused(record: object) -> None:
    body = {"k": "CREATED", "p": "KRATOS", "g": "g", "a": T0.isoformat(), "r": record}
    with pytest.raises(CodecError):
        load_change(json.dumps(body).encode(), 1)
    with pytest.raises(CodecError):
        load_record(json.dumps(record).encode())
