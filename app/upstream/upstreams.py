"""Upstreams: the enabled providers of one app, their health, and how callers reach them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import aiohttp

from app.core.circuit import CircuitBreaker, CircuitState
from app.core.records import Provider
from app.geo import Locator
from app.people import Directory, PeopleFile
from app.upstream.calls.http1 import HttpClient
from app.upstream.endpoint import Endpoint
from app.upstream.health import ProviderHealth
from app.upstream.provider import SessionProvider
from app.upstream.registry import PROVIDERS
from app.upstream.revocations import Revocations

if TYPE_CHECKING:  # settings and metrics import parts of this package
    from app.observability.metrics import Metrics
    from app.observability.tracing import Tracing
    from app.settings import Settings


def _state(health: ProviderHealth) -> CircuitState:
    return health.circuit.state


@dataclass(frozen=True, slots=True)
class Upstreams:
    """The enabled providers (schema order) and every provider's health, for one app."""

    providers: dict[Provider, SessionProvider]
    health: dict[Provider, ProviderHealth]
    forwarded: frozenset[Provider] = frozenset()  # providers whose credential callers bring
    # Told of every session ended through this app (live events, cache purges).
    revocations: Revocations = field(default_factory=Revocations)
    # Which provider users are one person (GATEWAY_PEOPLE_FILE, later directories).
    people: Directory = field(default_factory=Directory)
    # Where sessions are (Session.location, the countries and asns filters) and how fast a
    # person may travel between sign-ins (IMPOSSIBLE_TRAVEL).
    locator: Locator = field(default_factory=Locator)
    max_travel_kmh: float = 1000.0

    @classmethod
    def none(cls) -> Upstreams:
        """No provider enabled (for tests of what needs no upstream)."""
        return cls({}, {p: ProviderHealth() for p in Provider})

    @classmethod
    def create(
        cls,
        session: aiohttp.ClientSession,
        settings: Settings,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        people: Directory | None = None,
        *,
        locator: Locator | None = None,
        client: HttpClient | None = None,
    ) -> Upstreams:
        """A provider for every registered one whose URL is configured; `people` defaults to
        the link sources `settings` name. Upstream calls go over `client` when given, else
        over `session` (which credentials use either way)."""
        health = {
            provider: ProviderHealth(
                circuit=CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown)
            )
            for provider in Provider
        }
        providers: dict[Provider, SessionProvider] = {}
        for kind in PROVIDERS:
            own = settings.provider(kind.provider)
            if own.url is None:
                continue
            endpoint = Endpoint(
                session,
                provider=kind.provider.value,
                base_url=own.url,
                headers={"Accept": "application/json"},
                health=health[kind.provider],
                retries=settings.upstream_retries,
                concurrency=settings.upstream_concurrency,
                slow_call=settings.breaker_slow_call,
                credential=kind.credential(own, session, own.url),
                metrics=metrics,
                tracing=tracing,
                client=client,
            )
            providers[kind.provider] = kind(endpoint, own)
        forwarded = frozenset(p for p, given in providers.items() if given.settings.forward_header)
        if people is None:
            people = people_directory(settings, metrics)
        upstreams = cls(
            providers,
            health,
            forwarded,
            people=people,
            locator=locator or Locator(),
            max_travel_kmh=settings.max_travel_kmh,
        )
        if metrics is not None:
            for provider in providers:
                metrics.watch_circuit(provider.value, partial(_state, health[provider]))
        return upstreams

    @property
    def enabled(self) -> list[Provider]:
        """The providers with a configured URL, in schema order."""
        return list(self.providers)

    @property
    def listings(self) -> int:
        """Listings an unrestricted `sessions` page reads, for pricing queries up front."""
        return sum(p.listings for p in self.providers.values())


def people_directory(settings: Settings, metrics: Metrics | None = None) -> Directory:
    """The link sources configured: the people file, when there is one (ConfigError naming
    the entry when it is malformed)."""
    if settings.people_file is None:
        return Directory()
    failed = None if metrics is None else metrics.people_reload_failures.inc
    return Directory([PeopleFile(settings.people_file, on_reload_error=failed)])
