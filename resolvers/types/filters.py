"""Input types of `sessions(filter:, orderBy:)` and their translation into a SessionFilter."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime

import strawberry

from app.core import ids
from app.core.errors import BadUserInput
from app.geo.countries import country_code
from app.listing.filter import SessionFilter, TimeRange, parse_network
from resolvers.types.enums import Provider, SessionStatus, SignalKind, describe_values

MAX_IDS = 100


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum(description="What sessions can be ordered by.")
class SessionOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"


describe_values(OrderDirection, ASC="Oldest first.", DESC="Newest first (the default).")
describe_values(SessionOrderField, CREATED_AT="When the session was created.")


@strawberry.input(description="Order of the merged list; ties are broken by global id.")
class SessionOrder:
    field: SessionOrderField = SessionOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC

    @property
    def descending(self) -> bool:
        return self.direction is OrderDirection.DESC


@strawberry.input(description="A time range: `since` inclusive, `until` exclusive.")
class DateTimeRange:
    since: datetime | None = None
    until: datetime | None = None


@strawberry.input(description="A user by provider and the provider's own user id.")
class ProviderUserInput:
    provider: Provider
    native_id: str


@strawberry.input(description="Every given part must match (AND); lists match any member (OR).")
class SessionFilterInput:
    providers: list[Provider] | None = None
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Global session ids."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Global ids of SessionUser objects."
    )
    users: list[ProviderUserInput] | None = strawberry.field(
        default=None, description="Users by provider and native id; combined with userIds (OR)."
    )
    statuses: list[SessionStatus] | None = None
    created_at: DateTimeRange | None = None
    expires_at: DateTimeRange | None = None
    remote_address: str | None = strawberry.field(
        default=None, description="An IP address or a CIDR network such as 203.0.113.0/24."
    )
    user_agent: str | None = strawberry.field(
        default=None,
        description="Case-insensitive text in the raw User-Agent, its description, "
        "or the browser, OS or device name.",
    )
    last_seen_at: DateTimeRange | None = strawberry.field(
        default=None, description="When the session was last seen (no last-seen time: no match)."
    )
    countries: list[str] | None = strawberry.field(
        default=None,
        description="ISO 3166-1 alpha-2 codes (e.g. DE) of `location.countryCode`; needs "
        "GATEWAY_GEOIP_CITY_DB.",
    )
    asns: list[int] | None = strawberry.field(
        default=None, description="`location.asn` values; needs GATEWAY_GEOIP_ASN_DB."
    )
    signals: list[SignalKind] | None = strawberry.field(
        default=None,
        description="Sessions with any of these `signals`. Signals are worked out over the "
        "sessions of everyone in scope first (a scan, priced so), then the page is read.",
    )


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise BadUserInput(f"`{name}` needs a time zone (e.g. 2024-05-14T08:00:00Z).")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(f"`{name}` is out of range.") from None


def _range(name: str, value: DateTimeRange | None) -> TimeRange | None:
    if value is None:
        return None
    since, until = _utc(f"{name}.since", value.since), _utc(f"{name}.until", value.until)
    if since and until and since >= until:
        raise BadUserInput(f"`{name}.since` must be before `{name}.until`.")
    return TimeRange(since, until)


def _bounded(name: str, values: list[object]) -> None:
    if len(values) > MAX_IDS:
        raise BadUserInput(f"`{name}` takes at most {MAX_IDS} entries, got {len(values)}.")


def to_filter(value: SessionFilterInput | None) -> SessionFilter:
    """Validate the filter input; every problem names the offending argument."""
    if value is None:
        return SessionFilter()
    session_ids = None
    if value.ids is not None:
        _bounded("filter.ids", list(value.ids))
        session_ids = frozenset(ids.decode_as(ids.SESSION, str(i)) for i in value.ids)
    users = None
    if value.user_ids is not None or value.users is not None:
        pairs = [ids.decode_as(ids.USER, str(i)) for i in value.user_ids or []]
        for user in value.users or []:
            if not user.native_id.strip():
                raise BadUserInput("`filter.users[].nativeId` must not be empty.")
            pairs.append((user.provider, user.native_id))
        _bounded("filter.userIds + filter.users", list(pairs))
        users = frozenset(pairs)
    agent = None
    if value.user_agent is not None:
        agent = value.user_agent.strip()
        if not agent:
            raise BadUserInput("`filter.userAgent` must not be empty.")
    return SessionFilter(
        providers=frozenset(value.providers) if value.providers is not None else None,
        session_ids=session_ids,
        users=users,
        statuses=frozenset(value.statuses) if value.statuses is not None else None,
        created=_range("filter.createdAt", value.created_at),
        expires=_range("filter.expiresAt", value.expires_at),
        remote_address=parse_network(value.remote_address)
        if value.remote_address is not None
        else None,
        user_agent=agent,
        last_seen=_range("filter.lastSeenAt", value.last_seen_at),
        countries=_countries(value.countries),
        asns=_asns(value.asns),
        signals=frozenset(value.signals) if value.signals is not None else None,
    )


def _countries(values: list[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    _bounded("filter.countries", list(values))
    return frozenset(country_code(v, "filter.countries") for v in values)


def _asns(values: list[int] | None) -> frozenset[int] | None:
    if values is None:
        return None
    _bounded("filter.asns", list(values))
    for asn in values:
        if not 0 <= asn <= 0xFFFFFFFF:
            raise BadUserInput(f"`filter.asns`: {asn} is not an AS number (0 to 4294967295).")
    return frozenset(values)


@strawberry.input(
    description="A filter on one user's sessions: `sessions` less its user and provider parts."
)
class UserSessionFilterInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Global session ids."
    )
    statuses: list[SessionStatus] | None = None
    created_at: DateTimeRange | None = None
    expires_at: DateTimeRange | None = None
    remote_address: str | None = strawberry.field(
        default=None, description="An IP address or a CIDR network such as 203.0.113.0/24."
    )
    user_agent: str | None = strawberry.field(
        default=None,
        description="Case-insensitive text in the raw User-Agent, its description, "
        "or the browser, OS or device name.",
    )
    last_seen_at: DateTimeRange | None = strawberry.field(
        default=None, description="When the session was last seen (no last-seen time: no match)."
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 codes (e.g. DE) of `location.countryCode`."
    )
    asns: list[int] | None = strawberry.field(default=None, description="`location.asn` values.")
    signals: list[SignalKind] | None = strawberry.field(
        default=None, description="Sessions with any of these `signals`."
    )


def _general(
    given: UserSessionFilterInput, users: list[ProviderUserInput], providers: list[Provider] | None
) -> SessionFilterInput:
    """`sessions(filter:)` for `given` narrowed to `users`."""
    return SessionFilterInput(
        providers=providers,
        users=users,
        ids=given.ids,
        statuses=given.statuses,
        created_at=given.created_at,
        expires_at=given.expires_at,
        remote_address=given.remote_address,
        user_agent=given.user_agent,
        last_seen_at=given.last_seen_at,
        countries=given.countries,
        asns=given.asns,
        signals=given.signals,
    )


def to_user_filter(
    value: UserSessionFilterInput | None, provider: Provider, native_id: str
) -> SessionFilter:
    """The sessions of one user that match `value`, checked like `sessions(filter:)`."""
    given = value or UserSessionFilterInput()
    user = ProviderUserInput(provider=provider, native_id=native_id)
    return to_filter(_general(given, [user], [provider]))


def to_person_filter(
    value: UserSessionFilterInput | None, users: Iterable[tuple[Provider, str]]
) -> SessionFilter:
    """The sessions of a person's `users` that match `value`, checked like `sessions(filter:)`."""
    given = value or UserSessionFilterInput()
    chosen = [ProviderUserInput(provider=p, native_id=n) for p, n in users]
    return to_filter(_general(given, chosen, None))


# Built by converters decided once (resolvers/engine/inputs.py) when the fast path is on.
COMPILED_INPUTS = (
    SessionOrder,
    DateTimeRange,
    ProviderUserInput,
    SessionFilterInput,
    UserSessionFilterInput,
)
