"""The mock upstreams served together on loopback ports."""

from __future__ import annotations

import asyncio
import copy
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from app.mocks.calls import CALLS, Call
from app.mocks.credentials import Credentials
from app.mocks.data import MockData, generate
from app.mocks.faults import FAULT, FaultPlan
from app.mocks.hyperid import server as hyperid
from app.mocks.kratos import server as kratos
from app.mocks.prefactor import server as prefactor
from app.mocks.privx import server as privx
from app.mocks.zitadel import server as zitadel

__all__ = ["PROVIDERS", "Credentials", "MockUpstreams"]

PROVIDERS = ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS")


def _delay(seconds: float) -> Middleware:
    """A middleware that answers every request `seconds` late, as a distant upstream would."""

    @web.middleware
    async def delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await handler(request)

    return delay


class MockUpstreams:
    """Async context manager running the mock upstreams over a private copy of the data."""

    def __init__(
        self,
        data: MockData | None = None,
        credentials: Credentials | None = None,
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
        *,
        hyperid_date_style: str = "iso",
        latency: float = 0.0,
    ) -> None:
        # A copy, so revokes through one instance never leak into another or the caller's data.
        self.data = copy.deepcopy(data) if data is not None else generate()
        self.credentials = credentials or Credentials()
        self.host = host
        self.ports = {provider: 0 for provider in PROVIDERS} | (ports or {})
        self.apps: dict[str, web.Application] = {
            "PRIVX": privx.create_app(self.data, self.credentials),
            "PREFACTOR": prefactor.create_app(self.data, self.credentials),
            "ZITADEL": zitadel.create_app(self.data, self.credentials),
            "HYPERID": hyperid.create_app(
                self.data, self.credentials, date_style=hyperid_date_style
            ),
            "KRATOS": kratos.create_app(self.data, self.credentials),
        }
        if latency > 0:
            for app in self.apps.values():
                app.middlewares.insert(0, _delay(latency))
        self.urls: dict[str, str] = {}
        self._runners: dict[str, web.AppRunner] = {}
        self._sites: dict[str, web.TCPSite] = {}
        self._bound_ports: dict[str, int] = {}

    async def start(self) -> None:
        """Bind every app to its port (0: any free port) and fill in `urls`."""
        try:
            for provider, app in self.apps.items():
                # Cancels a handler (a HANG above all) when its client disconnects.
                runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
                await runner.setup()
                self._runners[provider] = runner
                await self._listen(provider, self.ports[provider])
                port = runner.addresses[0][1]
                self._bound_ports[provider] = port
                host = f"[{self.host}]" if ":" in self.host else self.host
                self.urls[provider] = f"http://{host}:{port}"
        except BaseException:
            await self.close()
            raise

    async def _listen(self, provider: str, port: int) -> None:
        site = web.TCPSite(self._runners[provider], self.host, port)
        await site.start()
        self._sites[provider] = site

    async def close(self) -> None:
        """Stop every app that was started."""
        while self._runners:
            _, runner = self._runners.popitem()
            await runner.cleanup()
        self._sites.clear()
        self._bound_ports.clear()
        self.urls.clear()

    async def stop_provider(self, provider: str) -> None:
        """Take one upstream down: new connections are refused, open ones are dropped."""
        runner = self._runner(provider)
        site = self._sites.pop(provider, None)
        if site is None:
            return
        await site.stop()
        # Keep-alive connections would otherwise still reach the stopped upstream.
        for connection in runner.server.connections if runner.server is not None else []:
            connection.force_close()

    async def start_provider(self, provider: str) -> None:
        """Bring an upstream taken down by `stop_provider` back on the same port."""
        self._runner(provider)
        if provider not in self._sites:
            await self._listen(provider, self._bound_ports[provider])

    def _runner(self, provider: str) -> web.AppRunner:
        if provider not in self.apps:
            raise KeyError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
        if provider not in self._runners:
            raise RuntimeError("MockUpstreams is not started")
        return self._runners[provider]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def calls(self, provider: str) -> list[Call]:
        """Requests one upstream (`"PRIVX"`, ...) has received, oldest first."""
        return self.apps[provider][CALLS]

    def reset_calls(self) -> None:
        """Forget every recorded request."""
        for app in self.apps.values():
            app[CALLS].clear()

    def set_fault(self, provider: str, plan: FaultPlan | None) -> None:
        """Apply `plan` to one upstream's next requests (None clears it); any thread may call."""
        self.apps[provider][FAULT].set(plan)

    def clear_faults(self) -> None:
        """Let every upstream answer normally again (requests already hanging stay so)."""
        for app in self.apps.values():
            app[FAULT].set(None)

    def gateway_env(self) -> dict[str, str]:
        """`GATEWAY_*` variables that point a gateway at these upstreams."""
        if not self.urls:
            raise RuntimeError("MockUpstreams is not started")
        return {
            "GATEWAY_PRIVX_URL": self.urls["PRIVX"],
            "GATEWAY_PRIVX_TOKEN": self.credentials.privx_token,
            "GATEWAY_PREFACTOR_URL": self.urls["PREFACTOR"],
            "GATEWAY_PREFACTOR_TOKEN": self.credentials.prefactor_token,
            "GATEWAY_PREFACTOR_POOL_IDS": ",".join(self.data.prefactor_pool_ids),
            "GATEWAY_ZITADEL_URL": self.urls["ZITADEL"],
            "GATEWAY_ZITADEL_TOKEN": self.credentials.zitadel_token,
            "GATEWAY_HYPERID_URL": self.urls["HYPERID"],
            "GATEWAY_HYPERID_COOKIE": f"ss-id={self.credentials.hyperid_session}",
            "GATEWAY_KRATOS_URL": self.urls["KRATOS"],
            "GATEWAY_KRATOS_TOKEN": self.credentials.kratos_token,
        }
