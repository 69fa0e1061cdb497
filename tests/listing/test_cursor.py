"""Cursors: what one carries comes back whole, and every way a cursor can be wrong is named."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from app.core.errors import BadUserInput
from app.listing.cursor import WALK_START, CursorCodec, CursorState

CODEC = CursorCodec(b"secret")
STATE = CursorState(
    fingerprint="f" * 16,
    created_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    global_id="U2Vzc2lvbjpQUklWWDphYmM",
    stream=1,
    offsets=(3, 0, 7),
    anchors=(None, 12, 0),
    missed=(None, WALK_START, datetime(2026, 1, 2, tzinfo=UTC)),
    ties=("a", "b"),
    ties_before=False,
)


def decode(cursor: str, *, fingerprint: str = "f" * 16, streams: int = 3) -> CursorState:
    return CODEC.decode(cursor, argument="after", fingerprint=fingerprint, streams=streams)


def test_a_cursor_carries_its_whole_state_and_no_padding() -> None:
    cursor = CODEC.encode(STATE)
    assert "=" not in cursor
    assert cursor.startswith("2.")
    assert decode(cursor) == STATE


def signed(body: object) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return f"2.{payload}.{CODEC._sign(payload)}"


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("not-a-cursor", "`after` is not a cursor issued by this gateway."),
        ("1.e30.x", "`after` is a version '1' cursor; this gateway reads version 2. Start again "
         "from the first page."),
        ("2.e30.x", "`after` has an invalid signature: it was altered, or issued by a gateway "
         "with another GATEWAY_CURSOR_SECRET."),
        (signed(["f", "not a time", "g", 0, [], [], [], [], True]),
         "`after` is not a cursor issued by this gateway."),
        (signed({"not": "a list"}), "`after` is not a cursor issued by this gateway."),
    ],
)  # fmt: skip
def test_a_wrong_cursor_is_refused_with_the_reason(cursor: str, message: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        decode(cursor)
    assert str(caught.value) == message


@pytest.mark.parametrize(("fingerprint", "streams"), [("g" * 16, 3), ("f" * 16, 2), ("f" * 16, 4)])
def test_a_cursor_of_another_query_is_refused(fingerprint: str, streams: int) -> None:
    with pytest.raises(BadUserInput) as caught:
        decode(CODEC.encode(STATE), fingerprint=fingerprint, streams=streams)
    assert str(caught.value) == (
        "`after` was issued for a different filter, orderBy or set of providers; cursors only "
        "work with the query that returned them."
    )


def test_a_state_whose_lists_disagree_in_length_is_refused() -> None:
    for anchors, missed in [((None, 1), (None, None, None)), ((None, 1, 2), (None,))]:
        state = CursorState("f" * 16, STATE.created_at, "g", 0, (0, 0, 0), anchors, missed)
        with pytest.raises(BadUserInput):
            decode(CODEC.encode(state))


def test_a_state_made_without_missed_streams_has_none_missed() -> None:
    state = CursorState("f" * 16, STATE.created_at, "g", 0, (1, 2, 3), (None, None, None))
    assert state.missed == (None, None, None)
    assert decode(CODEC.encode(state)) == state
