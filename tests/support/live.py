"""A live stack for integration tests: mock upstreams and the gateway under uvicorn, on loopback.

Both run in a background thread with their own event loop, so tests talk to them over real
HTTP exactly as clients do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from app.http.serving import server_config
from app.main import create_app
from app.mocks import MockData, MockUpstreams
from app.settings import Settings
from tests.support.mode import FAST_PATH

T = TypeVar("T")


class LiveStack:
    """Mock upstreams plus a gateway pointed at them; `url` is the GraphQL endpoint."""

    def __init__(
        self,
        data: MockData | None = None,
        env: Mapping[str, str] | None = None,
        env_of_mocks: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None,
    ) -> None:
        """`env_of_mocks` adds settings made from the started mocks' own (their URLs)."""
        self._data = data
        self._env = dict(env or {})
        self._env_of_mocks = env_of_mocks
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.mocks: MockUpstreams
        self.url = ""
        self.app: Starlette | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Future[None] | None = None

    def __enter__(self) -> LiveStack:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        stopping = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        try:
            stopping.result(timeout=30)
        except concurrent.futures.TimeoutError:
            # Say what the stack is still waiting for: a hang at shutdown is otherwise silent.
            where = asyncio.run_coroutine_threadsafe(_tasks(), self._loop).result(timeout=10)
            raise AssertionError(f"the stack did not stop in 30 s; its tasks:\n{where}") from None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self.mocks = MockUpstreams(self._data)
        await self.mocks.__aenter__()
        env = {
            "GATEWAY_FAST_PATH": str(FAST_PATH).lower(),
            **self.mocks.gateway_env(),
            "GATEWAY_CURSOR_SECRET": "test-secret",
            "GATEWAY_ALLOW_ANONYMOUS": "true",
            **self._env,
        }
        if self._env_of_mocks is not None:
            env.update(self._env_of_mocks(self.mocks.gateway_env()))
        settings = Settings.from_environ(env)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.app = create_app(settings)
        config = server_config(self.app, settings, log_level="warning")
        self._server = uvicorn.Server(config)
        self._serving = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}/graphql"

    async def _stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        await self.mocks.__aexit__(None, None, None)

    @property
    def schema(self) -> strawberry.Schema:
        """The schema the gateway serves (e.g. to watch its resolvers)."""
        assert self.app is not None
        for route in self.app.routes:
            if isinstance(route, Route) and isinstance(route.app, GraphQL):
                schema = route.app.schema
                assert isinstance(schema, strawberry.Schema)
                return schema
        raise LookupError("no GraphQL route")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the stack's event loop (e.g. stopping a mock) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def calls(self, provider: str) -> list[Any]:
        """Requests the mock of `provider` received since the last reset."""
        return list(self.mocks.calls(provider))

    def reset_calls(self) -> None:
        self.mocks.reset_calls()


def get(url: str, accept: str = "*/*") -> tuple[int, dict[str, str], bytes]:
    """GET `url`: status, headers and body, whatever the status."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL request and return the decoded JSON body (any HTTP status)."""
    return send(url, query, variables, headers)[1]


def send(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST a GraphQL request; the HTTP status and the decoded JSON body."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def _tasks() -> str:
    """Every task of the running loop but this one, with the chain of awaits it waits in."""
    lines = []
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            lines.append(f"{task.get_name()}:")
            lines += _awaits(task.get_coro())
    return "\n".join(lines)


def _awaits(awaited: Any) -> list[str]:
    """Where a coroutine (or async generator) waits, outermost first."""
    lines = []
    while awaited is not None:
        frame = _first(awaited, ("cr_frame", "ag_frame", "gi_frame"))
        if frame is None:
            lines.append(f"  {awaited!r}"[:300])
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        manager = frame.f_locals.get("self")
        if frame.f_code.co_name == "__aexit__" and hasattr(manager, "gen"):
            # An async context manager awaits its generator through an object that shows
            # nothing: follow the generator (the app's lifespan) instead.
            awaited = manager.gen
            continue
        awaited = _first(awaited, ("cr_await", "ag_await", "gi_yieldfrom"))
    return lines


def _first(awaited: Any, names: tuple[str, ...]) -> Any:
    """The first of `names` that `awaited` has (coroutine, async generator or generator)."""
    return next((getattr(awaited, name) for name in names if hasattr(awaited, name)), None)
