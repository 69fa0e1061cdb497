"""Global ids: base32hex, lower-cased and unpadded, cached or not."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import ids
from app.core.errors import BadUserInput
from app.core.records import Provider


def reference(kind: str, provider: Provider, native_id: str) -> str:
    raw = f"{kind}:{provider.value}:{native_id}".encode()
    return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


@given(st.text(), st.sampled_from(list(Provider)))
def test_encode_matches_the_library_encoder(native_id: str, provider: Provider) -> None:
    try:
        expected = reference(ids.SESSION, provider, native_id)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            ids.encode(ids.SESSION, provider, native_id)
    else:
        assert ids.encode(ids.SESSION, provider, native_id) == expected
        assert ids.encode(ids.SESSION, provider, native_id) == expected  # cached


@given(st.text(min_size=1), st.sampled_from(list(Provider)), st.sampled_from(["S", "U"]))
def test_decode_reverses_encode(native_id: str, provider: Provider, kind: str) -> None:
    try:
        global_id = ids.encode(kind, provider, native_id)
    except UnicodeEncodeError:
        return
    assert ids.decode(global_id) == (kind, provider, native_id)
    assert ids.decode(f" {global_id.upper()} ") == (kind, provider, native_id)


@pytest.mark.parametrize("global_id", ["", "!!", "s0", ids.encode("X", Provider.PRIVX, "1")])
def test_decode_refuses_what_is_not_a_global_id(global_id: str) -> None:
    with pytest.raises(BadUserInput):
        ids.decode(global_id)
