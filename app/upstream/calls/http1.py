"""A lean HTTP/1.1 client for the upstream calls: keep-alive connections per origin, on asyncio
protocols, with httptools' response parser (the C parser uvicorn uses for requests).

aiohttp's client spends about three times the CPU of a plain protocol on a call (building the
request, its URL and header objects, tracing signals, the response's stream reader); with
four or more calls per GraphQL request that was the largest share of the gateway's own CPU.
This client does what the upstream calls need and no more: requests with a body or none,
answers read whole (Content-Length, chunked, or to the end of the connection), keep-alive,
TLS, a connect and a total timeout, and gzip/deflate answers although none are asked for.
No redirects are followed, no cookies kept and no proxy used (aiohttp followed redirects: a
redirect now reaches the adapter as its status). aiohttp still serves everything else
(credentials, JWKS, webhooks), and the upstream calls too with GATEWAY_FAST_PATH=false.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import Mapping

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["Answer", "HttpClient", "ProtocolError"]

# An idle connection older than this is closed rather than reused (aiohttp's default too):
# servers drop idle connections, and a call on a dropped one costs a retry.
IDLE_SECONDS = 15.0
USER_AGENT = "session-gateway"


class ProtocolError(Exception):
    """The upstream's answer was not HTTP/1.1 this client can read, or the connection ended
    before it was whole."""


class _Stale(ProtocolError):
    """A kept-alive connection ended before any byte of the answer: the server had closed it."""


class Answer:
    """One answer, read whole."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, content: bytes, headers: CIMultiDictProxy[str]) -> None:
        self.status = status
        self.content = content
        self.headers = headers


class _Connection(asyncio.Protocol):
    """One connection: one exchange at a time, the parser's callbacks filling the answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None  # set by the pool, or connection_made
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]] | None
        self._waiter = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._received = False
        self._headers_done = False
        self._framed = False  # the answer says where it ends (a length, chunks, or no body)

    # --- asyncio ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"unreadable answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close: this client never half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._received and not self._framed and self._headers_done:
            # No length and not chunked: the answer ended with the connection.
            self._finish(keep_alive=False)
        elif not self._received:
            waiter.set_exception(_Stale("the connection closed before the answer"))
        else:
            waiter.set_exception(ProtocolError("the connection closed mid-answer"))

    # --- httptools callbacks ----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self._framed = True
        status = self.parser.get_status_code()
        if status in (204, 304) or 100 <= status < 200:
            self._framed = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:  # an interim answer: the real one follows
            self._headers, self._body, self._headers_done = [], [], False
            return
        self._finish(keep_alive=self.parser.should_keep_alive())

    # --- one exchange -----------------------------------------------------------------

    def _finish(self, *, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = b"".join(self._body)
            waiter.set_result((self.parser.get_status_code(), self._headers, body, keep_alive))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()

    async def exchange(self, request: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        """Send `request` and wait for the whole answer: status, raw headers, body, and
        whether the connection may carry another."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise _Stale("the connection closed before the call was sent")
        self._headers, self._body = [], []
        self._received = self._framed = self._headers_done = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Pool:
    """The connections to one origin: at most `limit` at once, idle ones reused newest first."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, limit: int) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.slots = asyncio.Semaphore(limit)
        self.idle: deque[_Connection] = deque()
        self.opened: set[_Connection] = set()  # idle or in use, until closed
        self.closed = False

    async def connection(self, connect_timeout: float) -> tuple[_Connection, bool]:
        """A connection, and whether it is a kept-alive one (which the server may have
        closed since)."""
        if self.closed:
            raise ProtocolError("the client is closed")
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection, True
            connection.abort()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(connect_timeout):
            transport, protocol = await loop.create_connection(
                _Connection,
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None,
            )
        # uvloop may call connection_made only after create_connection has returned.
        protocol.transport = transport
        self.opened = {c for c in self.opened if not c.closed}
        self.opened.add(protocol)
        return protocol, False

    def release(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self.idle.append(connection)

    def close(self) -> None:
        """Abort every connection, those in use too: their calls fail at once, as aiohttp's
        did when its session closed, rather than hold a server's shutdown."""
        self.closed = True
        self.idle.clear()
        for connection in self.opened:
            connection.abort()
        self.opened.clear()


class HttpClient:
    """Upstream calls over pooled HTTP/1.1 connections, `limit_per_host` per origin."""

    def __init__(self, *, timeout: float, connect_timeout: float, limit_per_host: int) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.limit_per_host = limit_per_host
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(
        self, method: str, url: URL, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        """Send one request and read its answer whole. Raises TimeoutError past the timeout,
        OSError when the connection fails and ProtocolError when the answer is unreadable."""
        pool = self._pool(url)
        request = _request(method, url, headers, body)
        async with asyncio.timeout(self.timeout), pool.slots:
            connection, kept = await pool.connection(self.connect_timeout)
            try:
                try:
                    status, raw, content, keep_alive = await connection.exchange(request)
                except _Stale:
                    if not kept:
                        raise
                    # The server closed the idle connection as the call went out: nothing of
                    # it was answered, so it goes once more on a new connection.
                    connection, kept = await pool.connection(self.connect_timeout)
                    status, raw, content, keep_alive = await connection.exchange(request)
            except BaseException:
                connection.abort()  # cut or failed mid-exchange: never reused
                raise
        if keep_alive and not connection.closed:
            pool.release(connection)
        else:
            connection.abort()
        answer_headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in raw
        )
        try:
            content = _decoded(content, answer_headers)
        except zlib.error as exc:
            raise ProtocolError(f"undecodable answer: {exc}") from exc
        return Answer(status, content, CIMultiDictProxy(answer_headers))

    def _pool(self, url: URL) -> _Pool:
        scheme, host, port = url.scheme, url.raw_host, url.port
        if scheme not in ("http", "https") or host is None or port is None:
            raise ValueError(f"not an http(s) URL: {url}")
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            tls = None
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                tls = self._tls
            pool = self._pools[key] = _Pool(host, port, tls, self.limit_per_host)
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _request(method: str, url: URL, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {url.raw_authority}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r} holds a line break or a colon in its name")
        lines.append(f"{name}: {value}")
    lines.append(f"User-Agent: {USER_AGENT}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


def _decoded(content: bytes, headers: CIMultiDict[str]) -> bytes:
    """The body as sent, undoing a gzip or deflate coding (none is asked for, some send it)."""
    coding = headers.get("Content-Encoding", "").strip().lower()
    if not content or coding in ("", "identity"):
        return content
    if coding == "gzip":
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:
            return zlib.decompress(content, -zlib.MAX_WBITS)
    raise ProtocolError(f"unknown Content-Encoding {coding!r}")
