"""Unexpected exceptions are masked for clients and logged with the request id."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.core.records import Provider
from app.listing.cursor import CursorCodec
from app.upstream.health import ProviderHealth
from app.upstream.providers.privx.provider import PrivxProvider
from app.upstream.upstreams import Upstreams
from resolvers.schema import build_schema
from resolvers.types.context import Context
from tests.support.mode import limits


class ExplodingClient:
    """An in-process fake whose search fails with a bug, not an upstream error."""

    async def search(self, **kwargs: Any) -> Any:
        raise RuntimeError("bug: internal detail that must not reach clients")


def exploding_privx() -> PrivxProvider:
    provider = PrivxProvider.__new__(PrivxProvider)
    provider.client = ExplodingClient()  # type: ignore[assignment]
    return provider


async def test_unexpected_errors_are_masked_with_a_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstreams = Upstreams(
        {Provider.PRIVX: exploding_privx()}, {p: ProviderHealth() for p in Provider}
    )
    context = Context.create(upstreams, CursorCodec(b"k"), request_id="req-42")  # anonymous

    with caplog.at_level(logging.ERROR, logger="session_gateway.errors"):
        result = await build_schema(limits()).execute(
            "{ sessions { totalCount } }", context_value=context
        )

    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-42"}
    assert "internal detail" not in str(result.errors)
    assert "req-42" in caplog.text
    assert "internal detail" in caplog.text
