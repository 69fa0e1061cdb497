"""GraphQL enums over the app's own enums; imported before any type that uses them."""

from __future__ import annotations

import enum

import strawberry

from app.core.circuit import CircuitState
from app.core.records import AuthorizationKind, Provider, SessionStatus
from app.core.useragent import DeviceType
from app.risk.signals import SignalKind
from app.upstream.health import Health
from app.upstream.registry import PROVIDERS

strawberry.enum(Provider, description="The upstream session APIs.")
strawberry.enum(
    SessionStatus,
    description="ACTIVE: usable; EXPIRED: past its expiry; LOGGED_OUT: ended by the user; "
    "REVOKED: cut short by an administrator; PENDING: created, not yet authenticated.",
)
strawberry.enum(DeviceType, description="Coarse device class, parsed from the User-Agent.")
strawberry.enum(AuthorizationKind, description="What an authorization grants access to.")
strawberry.enum(
    SignalKind,
    name="SessionSignalKind",
    description="What looks new or wrong about a session among its person's sessions at every "
    "provider.",
)
strawberry.enum(Health, name="ProviderHealth", description="How the latest upstream call went.")
strawberry.enum(
    CircuitState,
    description="CLOSED: calls flow; OPEN: the provider failed repeatedly and is skipped "
    "without waiting; HALF_OPEN: one probe call is let through to see if it recovered.",
)


def describe_values(kind: type[enum.Enum], **descriptions: str) -> None:
    """Give each value of the GraphQL enum `kind` its own description (all of them, or fail).

    The enums wrapped here are the app's own, whose members cannot be strawberry.enum_value.
    """
    definition = kind.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    if names != set(descriptions):
        raise ValueError(f"{kind.__name__}: describe exactly {sorted(names)}")
    for value in definition.values:
        value.description = descriptions[value.name]


describe_values(Provider, **{kind.provider.name: kind.description for kind in PROVIDERS})
describe_values(
    SessionStatus,
    ACTIVE="Usable now.",
    EXPIRED="Past its expiry time; not ended by anyone.",
    LOGGED_OUT="Ended by its user (a logout), or terminated where the provider records it so.",
    REVOKED="Cut short by an administrator or through this gateway.",
    PENDING="Created but not yet authenticated (e.g. a login in progress).",
)
describe_values(
    DeviceType,
    DESKTOP="A desktop or laptop browser or app.",
    MOBILE="A phone.",
    TABLET="A tablet.",
    BOT="A crawler, script or other automated client.",
    OTHER="Anything else, or no User-Agent to tell.",
)
describe_values(
    AuthorizationKind,
    SITE="Sign-in to a web site (hyper.id site authorization).",
    APP="Access granted to an app (hyper.id app authorization).",
)
describe_values(
    SignalKind,
    NEW_COUNTRY="The first of the person's known sessions from its country.",
    NEW_DEVICE="The first of the person's known sessions on its device.",
    IMPOSSIBLE_TRAVEL="Started further from an earlier session of the person (at any "
    "provider) than GATEWAY_MAX_TRAVEL_KMH allows in the time between their starts, accuracy "
    "radii taken off; `relatedSession` is the earlier one.",
)
describe_values(
    Health,
    UNKNOWN="Not called yet by this process.",
    UP="The latest call succeeded.",
    DOWN="The latest call failed.",
)
describe_values(
    CircuitState,
    CLOSED="Calls flow.",
    OPEN="The provider failed repeatedly and is skipped without waiting.",
    HALF_OPEN="One probe call is let through to see if the provider recovered.",
)

__all__ = [
    "AuthorizationKind",
    "CircuitState",
    "DeviceType",
    "Health",
    "Provider",
    "SessionStatus",
    "SignalKind",
]
