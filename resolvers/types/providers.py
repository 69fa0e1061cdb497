"""`Query.providers`: each upstream's name, whether it is enabled, and how it last behaved."""

from __future__ import annotations

import strawberry

from app.upstream.registry import PROVIDERS
from resolvers.types.context import Info
from resolvers.types.enums import CircuitState, Health, Provider

_NAMES = {kind.provider: kind.title for kind in PROVIDERS}


@strawberry.type(description="One upstream session API as this gateway process sees it.")
class ProviderInfo:
    provider: Provider
    name: str
    enabled: bool
    health: Health = strawberry.field(description="UNKNOWN until this process has called it.")
    latency_ms: float | None = strawberry.field(description="Latency of the latest call.")
    last_error_code: str | None
    circuit: CircuitState


def resolve_providers(info: Info) -> list[ProviderInfo]:
    """Every known provider, enabled or not."""
    upstreams = info.context.upstreams
    enabled = set(upstreams.enabled)
    return [
        ProviderInfo(
            provider=provider,
            name=_NAMES[provider],
            enabled=provider in enabled,
            health=upstreams.health[provider].health,
            latency_ms=upstreams.health[provider].latency_ms,
            last_error_code=upstreams.health[provider].last_error_code,
            circuit=upstreams.health[provider].circuit.state,
        )
        for provider in Provider
    ]
