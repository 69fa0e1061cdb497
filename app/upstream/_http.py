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
        not_found_ok: bool = False,
    ) -> T | None:
        """Call `path` and return `parse(json)`, or None on 404 when `not_found_ok`.

        A shape `parse` rejects is an UpstreamBadResponse, and counts against the provider's
        health like any other failure.
        """
        started = time.perf_counter()
        error: UpstreamError | None = None
        try:
            payload = await self._request(method, path, params, body, not_found_ok)
            if payload is None and not_found_ok:
                return None
            return _parse(self.provider, parse, payload)
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
        not_found_ok: bool,
    ) -> Any:
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
                text = await response.text()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{name} did not answer in time.", provider=name) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{name} is unavailable.", provider=name) from exc
        if status == 404 and not_found_ok:
            return None
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
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"{provider} answered with an unexpected shape.", provider=provider
        ) from exc
