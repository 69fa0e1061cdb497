"""The exchange itself, over the lean HTTP/1.1 client (app/upstream/calls/http1.py) or, with
GATEWAY_FAST_PATH=false, the shared aiohttp session: the one place where transport failures
become gateway errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import orjson
from yarl import URL

from app.core.errors import UpstreamTimeout, UpstreamUnavailable
from app.upstream.calls.exchange import Call, Response
from app.upstream.calls.http1 import HttpClient, ProtocolError


class Transport:
    """Sends a call to the provider's origin and reads the answer whole."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        client: HttpClient | None = None,
    ) -> None:
        self._session = session
        self._client = client
        self._provider = provider
        self._base_url = base_url
        self._headers = dict(headers)

    async def send(self, call: Call) -> Response:
        call.sent = asyncio.get_running_loop().time()
        try:
            response = await self._exchange(call)
        except asyncio.CancelledError:
            raise  # cut: `sent` stays, for the deadline to weigh how long the upstream held it
        except BaseException:
            call.sent = None
            raise
        call.sent = None
        return response

    async def _exchange(self, call: Call) -> Response:
        name = self._provider
        headers = {**self._headers, **call.credential}
        data = None
        if call.body is not None:
            data = orjson.dumps(call.body)  # a few times faster than aiohttp's json.dumps
            headers["Content-Type"] = "application/json"
        if self._client is not None:
            # The URL as aiohttp builds it (yarl's quoting), so upstreams see the same calls.
            url = URL(self._base_url + call.path)
            if call.params:
                url = url.extend_query(call.params)
            try:
                answer = await self._client.request(call.method, url, headers, data)
            except TimeoutError as exc:
                raise UpstreamTimeout(f"{name} did not answer in time.", provider=name) from exc
            except (OSError, ProtocolError) as exc:
                raise UpstreamUnavailable(f"{name} is unavailable.", provider=name) from exc
            return Response(answer.status, answer.content, answer.headers)
        try:
            async with self._session.request(
                call.method, self._base_url + call.path, params=call.params, data=data,
                headers=headers,
            ) as response:  # fmt: skip
                return Response(response.status, await response.read(), response.headers)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{name} did not answer in time.", provider=name) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{name} is unavailable.", provider=name) from exc
