"""Gateways as separate OS processes (`python -m app.cli serve`), the mocks on a thread of
their own, and a blocking SSE subscriber: for tests of replicas sharing one Redis."""

from __future__ import annotations

import asyncio
import http.client
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from app.mocks import MockUpstreams
from tests.support.net import free_port
from tests.support.paths import ROOT

T = TypeVar("T")


class ThreadedMocks:
    """The mock upstreams on their own event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.mocks = MockUpstreams()

    def __enter__(self) -> ThreadedMocks:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.mocks.__aenter__(), self.loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self.mocks.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the mocks' loop (their handlers read the same data)."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await `coroutine` on the mocks' loop (stop_provider, start_provider, ...)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def upstream_calls(self) -> int:
        return self.call(lambda: sum(len(self.mocks.calls(p)) for p in self.mocks.urls))


class Gateway:
    """One `serve` process on a free loopback port."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
                   "--log-level", "warning"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)})

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"{self.url} exited {self.process.returncode}"
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def metric(self, name: str) -> float:
        """One sample of /metrics (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return 0.0

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


class SseSubscriber:
    """One graphql-sse subscription read on a thread; `items` fills with each event's
    payload (`{"data": ...}` or `{"errors": ...}`) and its id."""

    def __init__(
        self, url: str, query: str, headers: Mapping[str, str], last_event_id: str | None = None
    ) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        sent = {"Content-Type": "application/json", "Accept": "text/event-stream", **headers}
        if last_event_id is not None:
            sent["Last-Event-ID"] = last_event_id
        self.connection.request("POST", "/graphql", json.dumps({"query": query}), sent)
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.read()
        self.items: queue.Queue[tuple[dict[str, Any], str | None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event, data, id_ = "", "", None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if event == "next" and data:
                        self.items.put((json.loads(data), id_))
                    event, data, id_ = "", "", None
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line.startswith("id:"):
                    id_ = line[3:].strip()
        except (OSError, http.client.HTTPException, AttributeError, ValueError):
            pass  # closed: by the server, or by `close` under this thread's read
        self.items.put(None)  # the stream ended

    def close(self) -> None:
        self.connection.close()
