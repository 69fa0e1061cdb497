"""Upstream bodies: decoding (orjson, json where it would differ), readers and PFID times."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.errors import UpstreamBadResponse
from app.upstream._json import obj, opt_int, opt_str, opt_time, req_str
from app.upstream.calls.decoding import decode
from app.upstream.providers.prefactor.provider import _CROCKFORD, pfid_time

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 is not the same value)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(json_values, st.booleans())
def test_decoding_gives_what_json_gives(value: Any, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None)
    assert same(decode("P", 200, text.encode()), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551615",  # the largest unsigned 64-bit integer, exact
        "[NaN, Infinity, -Infinity, 1e400]",  # orjson refuses these; json accepts them
        '"\\ud800"',  # a lone surrogate, also refused by orjson
        '{"a": 1, "a": 2}',
        " [1.5, -0, -0.0, 1E2] ",
    ],
)
def test_decoding_where_orjson_would_differ(text: str) -> None:
    assert same(decode("P", 200, text.encode()), json.loads(text))


def test_integers_past_64_bits_are_refused_by_the_readers() -> None:
    # orjson reads them as floats; no upstream sends them; an id must not be rounded.
    data = decode("P", 200, b'{"id": 18446744073709551616, "n": 4.0, "big": 1e300}')
    with pytest.raises(TypeError, match="id is not an exact integer"):
        opt_int(data, "id")
    with pytest.raises(TypeError, match="big is not an exact integer"):
        opt_int(data, "big")
    assert opt_int(data, "n") == 4


def test_bytes_that_are_not_utf8_are_replaced_as_before() -> None:
    assert decode("P", 200, b'{"name": "caf\xe9"}') == {"name": "caf\ufffd"}


@pytest.mark.parametrize("text", ["{", "[1,]", "\ufeff{}", "{}\x00", "nul", "  "])
def test_invalid_json_is_a_bad_response(text: str) -> None:
    with pytest.raises(UpstreamBadResponse, match="answered with invalid JSON") as caught:
        decode("P", 200, text.encode())
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


def test_readers_accept_and_refuse_as_before() -> None:
    data: dict[str, Any] = {"s": "x", "e": "", "n": None, "i": 3, "b": True, "t": "7", "f": 2.0}
    assert obj(data) is data
    assert [opt_str(data, k) for k in ("s", "e", "n", "missing")] == ["x", None, None, None]
    assert req_str(data, "s") == "x"
    assert [opt_int(data, k) for k in ("i", "t", "f", "n")] == [3, 7, 2, None]
    for key in ("e", "n", "missing"):
        assert opt_time(data, key) is None
        with pytest.raises(KeyError):
            req_str(data, key)
    with pytest.raises(TypeError, match="i is not a string"):
        opt_str(data, "i")
    with pytest.raises(TypeError, match="b is not an integer"):
        opt_int(data, "b")
    with pytest.raises(TypeError, match="expected an object, got list"):
        obj([])


def reference_pfid_time(pfid: str) -> datetime | None:
    """The digit-by-digit reading this module used to do."""
    if len(pfid) != 32:
        return None
    value = 0
    for char in pfid.lower():
        digit = _CROCKFORD.find(char)
        if digit < 0:
            return None
        value = value * 32 + digit
    return datetime.fromtimestamp(((value >> 110) & (2**48 - 1)) / 1000, UTC)


def read(parse: Callable[[str], datetime | None], pfid: str) -> object:
    try:
        return parse(pfid)
    except ValueError as exc:  # a time past year 9999
        return str(exc)


pfids = st.text(st.sampled_from(_CROCKFORD + _CROCKFORD.upper()), min_size=32, max_size=32)


@given(st.one_of(pfids, pfids.map(lambda s: s[:5] + "\u212a" + s[6:]), st.text(max_size=33)))
def test_pfid_time_reads_as_before(pfid: str) -> None:
    assert read(pfid_time, pfid) == read(reference_pfid_time, pfid)


@pytest.mark.parametrize(
    "pfid", ["0" * 31 + "i", "0" * 31 + "\ud800", "0" * 31 + "\u0130", "7" * 32]
)
def test_pfid_time_refuses_exactly_what_it_refused(pfid: str) -> None:
    assert read(pfid_time, pfid) == read(reference_pfid_time, pfid)
