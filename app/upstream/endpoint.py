"""Endpoint.call(): the one way adapters call their upstream, through the call layers of
app/upstream/calls (breaker, telemetry, decoding, deadline, retries, credential, budget,
concurrency limit, transport; that package's docstring gives their order and why).

Breakers and health record only what the upstream did: time spent queued in the gateway, a
refusal by the budget, a missing forwarded credential and cancellation record nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiohttp

from app.observability.tracing import Tracing
from app.upstream.calls.authentication import Authenticating
from app.upstream.calls.breaker import Breaker
from app.upstream.calls.budget import Budget
from app.upstream.calls.concurrency import UNQUEUED, ConcurrencyLimit
from app.upstream.calls.deadline import Deadline
from app.upstream.calls.decoding import decode, parse_shape
from app.upstream.calls.exchange import Call
from app.upstream.calls.http1 import HttpClient
from app.upstream.calls.retrying import Retrying
from app.upstream.calls.telemetry import Telemetry
from app.upstream.calls.transport import Transport
from app.upstream.credentials import Credential
from app.upstream.health import ProviderHealth
from app.upstream.kept import KeptParses, Parse, Parsed

if TYPE_CHECKING:  # metrics import this package's circuit states
    from app.observability.metrics import Metrics

__all__ = ["UNQUEUED", "Endpoint", "parse_shape"]

T = TypeVar("T")


class Endpoint:
    """A provider's origin, credentials, shared client session and call policy."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        health: ProviderHealth | None = None,
        retries: int = 2,
        concurrency: int = 16,
        slow_call: float = 2.0,
        credential: Credential | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        client: HttpClient | None = None,
    ) -> None:
        self.provider = provider
        self.health = health or ProviderHealth()
        # What a sibling endpoint (another API of the same provider) is made with.
        self._session, self._client, self._headers = session, client, dict(headers)
        self._options = (retries, concurrency, slow_call, metrics, tracing)
        transport = Transport(
            session,
            provider=provider,
            base_url=base_url.rstrip("/"),
            headers=headers,
            client=client,
        )
        limited = ConcurrencyLimit(transport, concurrency)
        charged = Budget(limited, provider)
        authenticated = Authenticating(charged, credential or Credential())
        retried = Retrying(authenticated, provider=provider, retries=retries)
        self._send = Deadline(retried, provider=provider, slow_call=slow_call)
        self._telemetry = Telemetry(provider, self.health, metrics, tracing or Tracing())
        self._breaker = Breaker(self.health.circuit, provider)
        self.kept = KeptParses()

    def sibling(self, base_url: str, credential: Credential) -> Endpoint:
        """Another API of the same provider (Kratos's public one beside its admin one): the same
        connection pool, health, limits and telemetry, with its own base URL and credential."""
        retries, concurrency, slow_call, metrics, tracing = self._options
        return Endpoint(
            self._session,
            provider=self.provider,
            base_url=base_url,
            headers=self._headers,
            health=self.health,
            retries=retries,
            concurrency=concurrency,
            slow_call=slow_call,
            credential=credential,
            metrics=metrics,
            tracing=tracing,
            client=self._client,
        )

    async def call(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        expected: Mapping[int, T] | None = None,
        read: bool | None = None,
        headers: Sequence[str] = (),
        keep: bool = False,
    ) -> T:
        """Call `path` and return `parse(json)` (None for an empty body).

        `read` (default: GET only) marks a call safe to retry. A status in `expected` (e.g.
        `{404: None}`) answers its value instead of raising. A shape `parse` rejects is an
        UpstreamBadResponse, and counts against the provider's health like any failure.
        With `headers`, `parse` gets `(json, {name: value})` of the response headers named there
        that came, for paging in a `Link` header. With `keep`, `parse` (a listing's: records and
        what else the answer said) runs once per distinct answer (the body and those headers)
        while the statuses it computed hold (app/upstream/kept.py).
        """
        call = Call(method, path, params, body, read=method == "GET" if read is None else read)

        async def answer() -> T:
            response = await self._send.send(call)
            status = call.status = response.status
            if expected is not None and status in expected:
                return expected[status]
            named = _named(response.headers, headers) if headers else None
            if keep and status == 200:
                kept = self._kept_parse(cast("Parse", parse), response.content, named)
                return cast("T", kept)
            payload = decode(self.provider, status, response.content)
            return parse_shape(self.provider, parse, payload if named is None else (payload, named))

        return await self._breaker.guard(lambda: self._telemetry.observe(call, answer))

    def _kept_parse(self, parse: Parse, content: bytes, named: dict[str, str] | None) -> Parsed:
        # The headers a parse reads are part of the answer it is kept for; a header value has
        # no line break, so the key's first lines are theirs.
        key = content if named is None else _header_lines(named) + content
        kept = self.kept.get(parse, key)
        if kept is not None:
            return kept
        since = self.kept.now()
        payload = decode(self.provider, 200, content)
        parsed = parse_shape(self.provider, parse, payload if named is None else (payload, named))
        return self.kept.keep(parse, key, parsed, since)


def _named(headers: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The response headers called `names` that came (looked up as HTTP does, any case)."""
    return {name: headers[name] for name in names if name in headers}


def _header_lines(named: Mapping[str, str]) -> bytes:
    """`named` as HTTP's header lines, ended by an empty one (bytes as received kept)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in named.items()) + "\r\n"
    return lines.encode("utf-8", "surrogateescape")
