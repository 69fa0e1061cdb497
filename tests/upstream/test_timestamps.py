"""Timestamps: the fast path gives what the general path gives, or leaves the input to it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.upstream import timestamps
from app.upstream.timestamps import parse_rfc3339, parse_servicestack


def outcome(
    parse: Callable[[str, bool], datetime], value: str, naive_is_utc: bool
) -> tuple[object, ...]:
    try:
        parsed = parse(value, naive_is_utc)
    except ValueError as exc:
        return ("error", str(exc))
    return ("ok", parsed, parsed.tzinfo is UTC)


# Around the common shape: digits, separators, and the characters fromisoformat also accepts.
PIECES = [*"0123456789", "-", ":", ".", ",", "T", "t", " ", "Z", "z", "+", "W", "\u0663", "\u00b2"]
shaped = st.builds(
    lambda base, edits, tail: _edit(base, edits) + tail,
    st.sampled_from(
        ["2024-05-14T07:17:35", "2024-W20-2T07:17:35", "20240514T071735", "2024-05-14 07:17"]
    ),
    st.lists(st.tuples(st.integers(0, 20), st.sampled_from(PIECES)), max_size=3),
    st.one_of(
        st.just("Z"),
        st.builds(
            lambda digits, rest: f".{digits}{rest}",
            st.text("0123456789", max_size=12),
            st.text(st.sampled_from(PIECES), max_size=3),
        ),
        st.text(st.sampled_from(PIECES), max_size=12),
    ),
)


def _edit(base: str, edits: list[tuple[int, str]]) -> str:
    for index, char in edits:
        base = base[:index] + char + base[index + 1 :]
    return base


@settings(max_examples=1000)
@given(st.one_of(shaped, st.text(max_size=40)), st.booleans())
@example("2024-05-14T07:17:35.1234567a9Z", False)  # fromisoformat skips what follows 6 digits
@example("2024-05-14T07:17:35.1234567+0Z", False)
@example("2024-05-14T07:17:Z", False)  # and takes seconds as optional
@example("2024-05-14T07:17:35.123456789\u0663Z", False)
@example(" 2024-05-14T07:17:35Z", False)
def test_fast_path_agrees_with_the_general_path(value: str, naive_is_utc: bool) -> None:
    general = outcome(timestamps._parse_general, value, naive_is_utc)
    assert outcome(lambda v, n: parse_rfc3339(v, naive_is_utc=n), value, naive_is_utc) == general


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-14T07:17:35Z", datetime(2024, 5, 14, 7, 17, 35, tzinfo=UTC)),
        ("2024-05-14T07:17:35.5Z", datetime(2024, 5, 14, 7, 17, 35, 500_000, tzinfo=UTC)),
        ("2024-05-14T07:17:35.123456Z", datetime(2024, 5, 14, 7, 17, 35, 123_456, tzinfo=UTC)),
        ("2024-05-14T07:17:35.123456999Z", datetime(2024, 5, 14, 7, 17, 35, 123_456, tzinfo=UTC)),
        ("2024-05-14T09:17:35.1+02:00", datetime(2024, 5, 14, 7, 17, 35, 100_000, tzinfo=UTC)),
    ],
)
def test_common_shapes(value: str, expected: datetime) -> None:
    parsed = parse_rfc3339(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-05-14", "not an RFC 3339 timestamp: '2024-05-14'"),
        ("2024-05-14T07:17:35", "timestamp without a time zone: '2024-05-14T07:17:35'"),
        ("2024-13-14T07:17:35Z", "month must be in 1..12"),
    ],
)
def test_errors_keep_their_messages(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rfc3339(value)


def test_servicestack_forms() -> None:
    expected = datetime(2024, 5, 14, 8, 1, 10, tzinfo=UTC)
    assert parse_servicestack("2024-05-14T08:01:10Z") == expected
    assert parse_servicestack("2024-05-14T08:01:10") == expected  # Unspecified kind: UTC
    assert parse_servicestack(" /Date(1715673670000+0200)/ ") == expected
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_servicestack("/Date(x)/")
