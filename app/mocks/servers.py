"""The four mock upstreams served together on loopback ports."""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Self

from aiohttp import web

from app.mocks import hyperid, prefactor, privx, zitadel
from app.mocks.calls import CALLS, Call
from app.mocks.credentials import Credentials
from app.mocks.data import MockData, generate

__all__ = ["PROVIDERS", "Credentials", "MockUpstreams"]

PROVIDERS = ("PRIVX", "PREFACTOR", "ZITADEL", "HYPERID")


class MockUpstreams:
    """Async context manager running the four mock upstreams over a private copy of the data."""

    def __init__(
        self,
        data: MockData | None = None,
        credentials: Credentials | None = None,
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
        *,
        hyperid_date_style: str = "iso",
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
        }
        self.urls: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        """Bind every app to its port (0: any free port) and fill in `urls`."""
        try:
            for provider, app in self.apps.items():
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                self._runners.append(runner)
                await web.TCPSite(runner, self.host, self.ports[provider]).start()
                port = runner.addresses[0][1]
                host = f"[{self.host}]" if ":" in self.host else self.host
                self.urls[provider] = f"http://{host}:{port}"
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every app that was started."""
        while self._runners:
            await self._runners.pop().cleanup()
        self.urls.clear()

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
        }
