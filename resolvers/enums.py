"""GraphQL enums over the app's own enums; imported before any type that uses them."""

from __future__ import annotations

import strawberry

from app.upstream.circuit import CircuitState
from app.upstream.health import Health
from app.upstream.records import AuthorizationKind, Provider, SessionStatus
from app.useragent import DeviceType

strawberry.enum(Provider, description="The upstream session APIs.")
strawberry.enum(
    SessionStatus,
    description="ACTIVE: usable; EXPIRED: past its expiry; LOGGED_OUT: ended by the user; "
    "REVOKED: cut short by an administrator; PENDING: created, not yet authenticated.",
)
strawberry.enum(DeviceType, description="Coarse device class, parsed from the User-Agent.")
strawberry.enum(AuthorizationKind, description="What an authorization grants access to.")
strawberry.enum(Health, name="ProviderHealth", description="How the latest upstream call went.")
strawberry.enum(
    CircuitState,
    description="CLOSED: calls flow; OPEN: the provider failed repeatedly and is skipped "
    "without waiting; HALF_OPEN: one probe call is let through to see if it recovered.",
)

__all__ = [
    "AuthorizationKind",
    "CircuitState",
    "DeviceType",
    "Health",
    "Provider",
    "SessionStatus",
]
