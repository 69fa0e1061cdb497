"""GraphQL over Server-Sent Events: the graphql-sse protocol's "distinct connections" mode.

`POST /graphql` with `Accept: text/event-stream` runs one subscription per connection: each
result is an `event: next` with `data: {"data": ...}`, and the stream ends with
`event: complete`. The caller was authenticated by AuthMiddleware like any query; admission
control does not count the stream (it would hold a slot for hours), the hub's subscription caps
bound it instead. Each event carries the subscription's cursor as its `id`, so a reconnecting
EventSource-style client sends it back as `Last-Event-ID` and resumes where it stopped. An idle
stream gets a comment line every heartbeat interval, which also finds clients that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Scope
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from app.auth.authenticator import Authenticator
from app.auth.principal import Principal
from app.http import request_json
from app.http.drain import DRAIN, shutting_down
from app.http.media import EVENT_STREAM, error_response, prefers_event_stream
from app.live.caller import LiveCaller
from app.state.persisted import PersistedDocuments, Refused
from resolvers.types.context import Context

_DONE = object()

ContextFactory = Callable[[Request, Response], Awaitable[Context]]


def is_event_stream(scope: Scope) -> bool:
    """An HTTP request on the GraphQL path that asks for a graphql-sse stream."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    return prefers_event_stream(Headers(scope=scope).get("accept"))


def operation_problem(query: str, operation_name: str | None, transport: str) -> str | None:
    """Why this document may not run over a stream; None for a subscription (or for a text
    that does not parse or name its operation: the ordinary handling words that)."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return None
    if operation is None or operation.operation is OperationType.SUBSCRIPTION:
        return None
    return (
        f"Only subscriptions run over {transport}; send this {operation.operation.value} as "
        "an ordinary HTTP POST to /graphql."
    )


async def subscription_query(
    persisted: PersistedDocuments | None,
    payload: dict[str, Any],
    principal: Principal,
    transport: str,
) -> str | None:
    """A subscription's document text from its request `payload`: its `query`, or the document a
    `documentId` or APQ hash names, by the trusted-document rules of queries (`require` mode
    included); None when there is none. Refused when it may not run over `transport`."""
    query = payload.get("query")
    name = payload.get("operationName")
    if persisted is not None:
        extensions = payload.get("extensions")
        data = GraphQLRequestData(
            query,
            payload.get("variables"),
            name if isinstance(name, str) else None,
            extensions if isinstance(extensions, dict) else None,
        )
        query = (await persisted.resolve(data, payload.get("documentId"), principal)).query
    if not isinstance(query, str):
        return None
    problem = operation_problem(query, name if isinstance(name, str) else None, transport)
    if problem is not None:
        raise Refused(400, "BAD_REQUEST", problem)
    return query


def _payload(result: ExecutionResult) -> bytes:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    return orjson.dumps(body)


def _next(result: ExecutionResult, cursor: str | None) -> bytes:
    head = b"event: next\n"
    if cursor:
        head += b"id: " + cursor.encode() + b"\n"
    return head + b"data: " + _payload(result) + b"\n\n"


COMPLETE = b"event: complete\ndata:\n\n"


def _shutting_down(cursor: str | None) -> bytes:
    head = b"event: next\n"
    if cursor:
        head += b"id: " + cursor.encode() + b"\n"
    body = orjson.dumps({"data": None, "errors": [shutting_down(cursor)]})
    return head + b"data: " + body + b"\n\n"


class SseEndpoint:
    """Runs one subscription per request through `schema.subscribe`."""

    def __init__(
        self,
        schema: Any,
        context: ContextFactory,
        *,
        heartbeat: float,
        reauth: float,
        persisted: PersistedDocuments | None = None,
    ) -> None:
        self._schema = schema
        self._persisted = persisted
        self._context = context
        self._heartbeat = heartbeat
        self._reauth = reauth

    async def __call__(self, request: Request) -> Response:
        try:
            body = request_json.loads(await request.body())
        except orjson.JSONDecodeError:
            return error_response(400, "BAD_REQUEST", "The body is not valid JSON.")
        except request_json.DuplicateKey as exc:
            return error_response(400, "BAD_REQUEST", str(exc))
        if not isinstance(body, dict):
            return error_response(400, "BAD_REQUEST", "The body needs a `query` string.")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return error_response(400, "BAD_REQUEST", "`variables` must be an object.")
        operation_name = body.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            return error_response(400, "BAD_REQUEST", "`operationName` must be a string.")
        principal: Principal = request.state.principal
        try:
            query = await subscription_query(self._persisted, body, principal, "SSE")
        except Refused as exc:
            return error_response(400 if exc.status == 200 else exc.status, exc.code, exc.message)
        if query is None:
            return error_response(400, "BAD_REQUEST", "The body needs a `query` string.")
        authenticator: Authenticator = request.state.authenticator
        address = request.client.host if request.client else None
        live = LiveCaller.create(
            request.state.hub, principal, request.headers, authenticator, self._reauth, address
        )
        live.last_event_id = request.headers.get("last-event-id") or None
        context = await self._context(request, Response())
        context = replace(context, live=live)
        result = await self._schema.subscribe(query, variables, context, None, operation_name)
        if isinstance(result, ExecutionResult):
            # Not a stream: the document was refused (400) or the subscription failed to start.
            status = 400 if result.data is None and _before_execution(result) else 200
            if status == 400:
                return JSONResponse(orjson.loads(_payload(result)), status_code=400)
            return StreamingResponse(_once(result), media_type=EVENT_STREAM, headers=_HEADERS)
        stream = self._events(result, live)
        return StreamingResponse(stream, media_type=EVENT_STREAM, headers=_HEADERS)

    async def _events(
        self, results: AsyncGenerator[ExecutionResult], live: LiveCaller
    ) -> AsyncIterator[bytes]:
        """Results as SSE events, comments while idle; the generator runs in a pump task so a
        heartbeat timeout never cancels it mid-event."""
        queue: asyncio.Queue[object] = asyncio.Queue(1)

        async def pump() -> None:
            try:
                async for result in results:
                    await queue.put(result)
            finally:
                await queue.put(_DONE)

        task = asyncio.create_task(pump(), name="sse-pump")
        with DRAIN.stream() as ending:
            shutdown = asyncio.create_task(ending.wait(), name="sse-shutdown")
            try:
                yield b": connected\n\n"
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait(
                        (getter, shutdown), timeout=self._heartbeat, return_when=FIRST_COMPLETED
                    )
                    if not getter.done():
                        getter.cancel()
                        if shutdown.done():
                            # The last event: the cursor to resume from, on another replica.
                            yield _shutting_down(live.last_cursor)
                            break
                        yield b": ping\n\n"
                        continue
                    item = getter.result()
                    if item is _DONE:
                        break
                    assert isinstance(item, ExecutionResult)
                    yield _next(item, live.last_cursor)
                yield COMPLETE
            finally:
                shutdown.cancel()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await results.aclose()


_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _once(result: ExecutionResult) -> AsyncIterator[bytes]:
    yield _next(result, None)
    yield COMPLETE


def _before_execution(result: ExecutionResult) -> bool:
    """Parse and validation errors (no path): the document never ran."""
    errors: list[GraphQLError] = list(result.errors or [])
    return bool(errors) and all(error.path is None for error in errors)
