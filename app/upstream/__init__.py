"""Provider adapters and the Upstreams bundle: the package's public API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import aiohttp
from pydantic import SecretStr

if TYPE_CHECKING:  # settings and metrics import parts of this package
    from app.metrics import Metrics
    from app.settings import Settings
    from app.tracing import Tracing
from app.upstream._http import Endpoint
from app.upstream.circuit import CircuitBreaker, CircuitState
from app.upstream.credentials import Credential, Forwarded, PrivxOAuth
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


def _state(health: ProviderHealth) -> CircuitState:
    return health.circuit.state


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _credential(
    session: aiohttp.ClientSession, settings: Settings, provider: Provider, url: str
) -> Credential:
    """The configured way to authenticate to `provider`: forwarded, OAuth, or static."""
    name = provider.value.lower()
    # hyper.id authenticates by its session cookie; the others by a bearer token.
    target = "Cookie" if provider is Provider.HYPERID else "Authorization"
    forward_header: str | None = getattr(settings, f"{name}_forward_header")
    if forward_header:
        return Forwarded(provider.value, forward_header, target)
    if provider is Provider.PRIVX and settings.privx_oauth:
        return PrivxOAuth(
            session,
            url,
            oauth_client_id=settings.privx_oauth_client_id or "",
            oauth_client_secret=_secret(settings.privx_oauth_client_secret),
            api_client_id=settings.privx_api_client_id or "",
            api_client_secret=_secret(settings.privx_api_client_secret),
        )
    if provider is Provider.HYPERID:
        return Credential({"Cookie": _secret(settings.hyperid_cookie)})
    token: SecretStr | None = getattr(settings, f"{name}_token")
    return Credential({"Authorization": f"Bearer {_secret(token)}"})


@dataclass(frozen=True, slots=True)
class Upstreams:
    """The enabled provider clients (None when disabled) and their health, for one app."""

    privx: PrivxClient | None
    prefactor: PrefactorClient | None
    zitadel: ZitadelClient | None
    hyperid: HyperIdClient | None
    health: dict[Provider, ProviderHealth]
    forwarded: frozenset[Provider] = frozenset()  # providers whose credential callers bring

    @classmethod
    def create(
        cls,
        session: aiohttp.ClientSession,
        settings: Settings,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> Upstreams:
        """Build a client for every provider whose URL is configured."""
        health = {
            provider: ProviderHealth(
                circuit=CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown)
            )
            for provider in Provider
        }

        def endpoint(provider: Provider, url: str) -> Endpoint:
            return Endpoint(
                session,
                provider=provider.value,
                base_url=url,
                headers={"Accept": "application/json"},
                health=health[provider],
                retries=settings.upstream_retries,
                concurrency=settings.upstream_concurrency,
                slow_call=settings.breaker_slow_call,
                credential=_credential(session, settings, provider, url),
                metrics=metrics,
                tracing=tracing,
            )

        privx = prefactor = zitadel = hyperid = None
        if settings.privx_url:
            privx = PrivxClient(endpoint(Provider.PRIVX, settings.privx_url))
        if settings.prefactor_url:
            prefactor = PrefactorClient(
                endpoint(Provider.PREFACTOR, settings.prefactor_url), settings.prefactor_pool_ids
            )
        if settings.zitadel_url:
            zitadel = ZitadelClient(endpoint(Provider.ZITADEL, settings.zitadel_url))
        if settings.hyperid_url:
            hyperid = HyperIdClient(endpoint(Provider.HYPERID, settings.hyperid_url))
        forwarded = frozenset(
            p for p in Provider if getattr(settings, f"{p.value.lower()}_forward_header")
        )
        upstreams = cls(privx, prefactor, zitadel, hyperid, health, forwarded)
        if metrics is not None:
            for provider in upstreams.enabled:
                metrics.watch_circuit(provider.value, partial(_state, health[provider]))
        return upstreams

    @property
    def listings(self) -> int:
        """Listings an unrestricted `sessions` page reads: one per provider, Prefactor per pool."""
        pools = len(self.prefactor.pool_ids) if self.prefactor else 0
        return len(self.enabled) - (self.prefactor is not None) + pools

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
