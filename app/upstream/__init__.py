"""Provider adapters and the Upstreams bundle: the package's public API."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from app.settings import Settings
from app.upstream._http import Endpoint
from app.upstream.circuit import CircuitBreaker, CircuitState
from app.upstream.health import Health, ProviderHealth
from app.upstream.hyperid import HyperIdClient
from app.upstream.prefactor import PrefactorClient
from app.upstream.privx import PrivxClient
from app.upstream.records import Provider, SessionRecord
from app.upstream.zitadel import ZitadelClient

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "Health",
    "HyperIdClient",
    "PrefactorClient",
    "PrivxClient",
    "Provider",
    "ProviderHealth",
    "SessionRecord",
    "Upstreams",
    "ZitadelClient",
]

_JSON = {"Accept": "application/json"}


def _bearer(token: str) -> dict[str, str]:
    return {**_JSON, "Authorization": f"Bearer {token}"}


@dataclass(frozen=True, slots=True)
class Upstreams:
    """The enabled provider clients (None when disabled) and their health, for one app."""

    privx: PrivxClient | None
    prefactor: PrefactorClient | None
    zitadel: ZitadelClient | None
    hyperid: HyperIdClient | None
    health: dict[Provider, ProviderHealth]

    @classmethod
    def create(cls, session: aiohttp.ClientSession, settings: Settings) -> Upstreams:
        """Build a client for every provider whose URL is configured."""
        health = {
            provider: ProviderHealth(
                circuit=CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown)
            )
            for provider in Provider
        }

        def endpoint(provider: Provider, url: str, headers: dict[str, str]) -> Endpoint:
            return Endpoint(
                session,
                provider=provider.value,
                base_url=url,
                headers=headers,
                health=health[provider],
                retries=settings.upstream_retries,
                concurrency=settings.upstream_concurrency,
            )

        def secret(value: object) -> str:
            return str(getattr(value, "get_secret_value", lambda: "")())

        privx = prefactor = zitadel = hyperid = None
        if settings.privx_url:
            privx = PrivxClient(
                endpoint(Provider.PRIVX, settings.privx_url, _bearer(secret(settings.privx_token)))
            )
        if settings.prefactor_url:
            prefactor = PrefactorClient(
                endpoint(
                    Provider.PREFACTOR,
                    settings.prefactor_url,
                    _bearer(secret(settings.prefactor_token)),
                ),
                settings.prefactor_pool_ids,
            )
        if settings.zitadel_url:
            zitadel = ZitadelClient(
                endpoint(
                    Provider.ZITADEL, settings.zitadel_url, _bearer(secret(settings.zitadel_token))
                )
            )
        if settings.hyperid_url:
            cookie = {**_JSON, "Cookie": secret(settings.hyperid_cookie)}
            hyperid = HyperIdClient(endpoint(Provider.HYPERID, settings.hyperid_url, cookie))
        return cls(privx, prefactor, zitadel, hyperid, health)

    @property
    def enabled(self) -> list[Provider]:
        """The providers with a configured URL, in schema order."""
        clients = {
            Provider.PRIVX: self.privx,
            Provider.PREFACTOR: self.prefactor,
            Provider.ZITADEL: self.zitadel,
            Provider.HYPERID: self.hyperid,
        }
        return [provider for provider, client in clients.items() if client is not None]
