"""The lean HTTP/1.1 client of the upstream calls (app/upstream/calls/http1.py), against real
servers on loopback: aiohttp's for well-formed answers, raw sockets for what aiohttp never
sends (an answer cut short, one without a length, garbage)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from yarl import URL

from app.upstream.calls.http1 import HttpClient, ProtocolError

pytestmark = pytest.mark.server

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> tuple[web.AppRunner, URL, list[object]]:
    """An aiohttp server answering every path with `handler`; the client ends it saw."""
    peers: list[object] = []

    async def counted(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            peers.append(request.transport.get_extra_info("peername"))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", counted)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, URL(f"http://127.0.0.1:{port}"), peers


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient(timeout=5.0, connect_timeout=2.0, limit_per_host=4)
    yield http
    await http.close()


async def _raw_server(answer: bytes, *, close: bool) -> tuple[asyncio.Server, URL]:
    """A server that reads one request head and writes `answer` (then closes, if `close`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            if not close:
                await reader.read()  # until the client hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, URL(f"http://127.0.0.1:{port}")


async def test_a_post_sends_its_body_query_and_headers_and_reads_the_json(
    client: HttpClient,
) -> None:
    seen: dict[str, object] = {}

    async def echo(request: web.Request) -> web.Response:
        seen.update(
            method=request.method,
            target=request.raw_path,
            auth=request.headers.get("Authorization"),
            body=await request.read(),
        )
        return web.json_response({"ok": True}, headers={"X-Total-Count": "7"})

    runner, base, _ = await _serve(echo)
    try:
        url = (base / "v2/sessions/search").extend_query({"pagination[offset]": "0", "q": "a b"})
        answer = await client.request("POST", url, {"Authorization": "Bearer t"}, b'{"limit": 2}')
    finally:
        await runner.cleanup()

    assert answer.status == 200
    assert answer.content == b'{"ok": true}'
    assert answer.headers["x-total-count"] == "7"  # case-insensitive, as aiohttp's
    assert seen == {
        "method": "POST",
        # yarl's quoting, as aiohttp sent it
        "target": "/v2/sessions/search?pagination%5Boffset%5D=0&q=a+b",
        "auth": "Bearer t",
        "body": b'{"limit": 2}',
    }


async def test_calls_reuse_a_kept_alive_connection(client: HttpClient) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"n": 1})

    runner, base, peers = await _serve(ok)
    try:
        for _ in range(5):
            assert (await client.request("GET", base / "x", {}, None)).status == 200
    finally:
        await runner.cleanup()

    assert len(peers) == 5
    assert len(set(peers)) == 1


async def test_a_chunked_answer_and_a_gzip_one_are_read_whole(client: HttpClient) -> None:
    payload = b'{"items": [' + b",".join(b'{"id": %d}' % i for i in range(2000)) + b"]}"

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if request.path == "/gzip":
            response.headers["Content-Encoding"] = "gzip"
            await response.prepare(request)
            await response.write(gzip.compress(payload))
        else:
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(payload), 1000):
                await response.write(payload[start : start + 1000])
        await response.write_eof()
        return response

    runner, base, _ = await _serve(chunked)
    try:
        plain = await client.request("GET", base / "chunks", {}, None)
        zipped = await client.request("GET", base / "gzip", {}, None)
    finally:
        await runner.cleanup()

    assert plain.content == payload
    assert zipped.content == payload


async def test_an_answer_without_a_length_ends_with_the_connection(client: HttpClient) -> None:
    server, base = await _raw_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", close=True)
    async with server:
        answer = await client.request("GET", base / "x", {}, None)

    assert (answer.status, answer.content) == (200, b"{}")


async def test_an_answer_cut_short_is_a_protocol_error(client: HttpClient) -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial'
    server, base = await _raw_server(cut, close=True)
    async with server:
        with pytest.raises(ProtocolError, match="mid-answer"):
            await client.request("GET", base / "x", {}, None)


async def test_garbage_is_a_protocol_error(client: HttpClient) -> None:
    server, base = await _raw_server(b"SMTP ready\r\n\r\n", close=False)
    async with server:
        with pytest.raises(ProtocolError, match="unreadable"):
            await client.request("GET", base / "x", {}, None)


async def test_a_refused_connection_is_an_os_error(client: HttpClient) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()

    with pytest.raises(ConnectionRefusedError):
        await client.request("GET", URL(f"http://127.0.0.1:{port}/x"), {}, None)


async def test_a_silent_upstream_times_out_and_its_connection_is_dropped() -> None:
    hung, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if request.path == "/slow":
            hung.set()
            await release.wait()
        return web.json_response({})

    runner, base, peers = await _serve(slow)
    http = HttpClient(timeout=0.5, connect_timeout=2.0, limit_per_host=4)
    try:
        with pytest.raises(TimeoutError):
            await http.request("GET", base / "slow", {}, None)
        assert hung.is_set()
        answer = await http.request("GET", base / "fast", {}, None)
    finally:
        release.set()
        await http.close()
        await runner.cleanup()

    assert answer.status == 200
    assert peers[0] != peers[1]  # the timed-out connection was not reused


async def test_a_connection_the_server_closed_while_idle_is_replaced(client: HttpClient) -> None:
    answers = 0

    async def once_then_close(request: web.Request) -> web.Response:
        nonlocal answers
        answers += 1
        # The first answer keeps the connection but the server drops it right after.
        response = web.json_response({"n": answers})
        if answers == 1:
            assert request.transport is not None
            asyncio.get_running_loop().call_later(0.05, request.transport.close)
        return response

    runner, base, peers = await _serve(once_then_close)
    try:
        await client.request("GET", base / "x", {}, None)
        await asyncio.sleep(0.3)
        second = await client.request("GET", base / "x", {}, None)
    finally:
        await runner.cleanup()

    assert second.content == b'{"n": 2}'
    assert len(set(peers)) == 2


async def test_a_header_with_a_line_break_is_refused_before_sending(client: HttpClient) -> None:
    with pytest.raises(ValueError, match="line break"):
        await client.request("GET", URL("http://127.0.0.1:9/x"), {"X-A": "1\r\nX-B: 2"}, None)


def test_under_uvloop_as_serve_runs_calls_answer_and_share_a_connection() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[list[int], int]:
        async def ok(request: web.Request) -> web.Response:
            return web.json_response({"n": 1})

        runner, base, peers = await _serve(ok)
        http = HttpClient(timeout=5.0, connect_timeout=2.0, limit_per_host=4)
        try:
            statuses = []
            for _ in range(3):
                answers = await asyncio.gather(
                    *(http.request("GET", base / "x", {}, None) for _ in range(4))
                )
                statuses += [a.status for a in answers]
        finally:
            await http.close()
            await runner.cleanup()
        return statuses, len(set(peers))

    statuses, connections = uvloop.run(scenario())

    assert statuses == [200] * 12
    assert connections == 4  # four at once, then kept alive and reused


async def test_closing_the_client_ends_a_call_in_flight() -> None:
    hung, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        hung.set()
        await release.wait()
        return web.json_response({})

    runner, base, _ = await _serve(slow)
    http = HttpClient(timeout=30.0, connect_timeout=2.0, limit_per_host=4)
    try:
        call = asyncio.ensure_future(http.request("GET", base / "x", {}, None))
        await asyncio.wait_for(hung.wait(), 5)
        await http.close()
        with pytest.raises(ProtocolError, match=r"(mid-answer|before the answer)"):
            await asyncio.wait_for(call, 5)
    finally:
        release.set()
        await runner.cleanup()
