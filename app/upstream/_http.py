"""request_json(): the one place where transport and status failures become gateway errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp

from app.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from app.upstream.health import ProviderHealth

T = TypeVar("T")


class Endpoint:
    """A provider's origin, credentials and shared client session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        health: ProviderHealth | None = None,
    ) -> None:
        self.session = session
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.health = health or ProviderHealth()

    async def call(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        expected: Mapping[int, T] | None = None,
    ) -> T:
        """Call `path` and return `parse(json)` (None for an empty body).

        A status in `expected` (e.g. `{404: None}`) answers its value instead of raising. A
        shape `parse` rejects is an UpstreamBadResponse, and counts against the provider's
        health like any other failure.
        """
        started = time.perf_counter()
        error: UpstreamError | None = None
        try:
            status, text = await self._request(method, path, params, body)
            if expected is not None and status in expected:
                return expected[status]
            return _parse(self.provider, parse, _decode(self.provider, status, text))
        except UpstreamError as exc:
            error = exc
            raise
        finally:
            self.health.record(started, error.code if error else None)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: object,
    ) -> tuple[int, str]:
        name = self.provider
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=self.headers,
            ) as response:
                status = response.status
                text = (await response.read()).decode("utf-8", errors="replace")
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{name} did not answer in time.", provider=name) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{name} is unavailable.", provider=name) from exc
        return status, text


def _decode(name: str, status: int, text: str) -> Any:
    """The JSON of a 2xx answer; any other status becomes its gateway error."""
    if status in (401, 403):
        raise UpstreamUnauthorized(
            f"{name} rejected the gateway's credentials (HTTP {status}).", provider=name
        )
    if status >= 500:
        raise UpstreamUnavailable(f"{name} answered HTTP {status}.", provider=name)
    if status >= 400:
        raise UpstreamBadResponse(
            f"{name} refused the gateway's request (HTTP {status}).", provider=name
        )
    if status == 204 or not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UpstreamBadResponse(f"{name} answered with invalid JSON.", provider=name) from exc


def _parse(provider: str, parse: Callable[[Any], T], payload: Any) -> T:
    try:
        return parse(payload)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise UpstreamBadResponse(
            f"{provider} answered with an unexpected shape.", provider=provider
        ) from exc
