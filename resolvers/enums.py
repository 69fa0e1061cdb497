"""GraphQL enums over the app's own enums; imported before any type that uses them."""

from __future__ import annotations

import strawberry

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

__all__ = ["AuthorizationKind", "DeviceType", "Health", "Provider", "SessionStatus"]
