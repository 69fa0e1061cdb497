"""SessionFilter: the normalised `sessions(filter:)` argument and its in-gateway predicate."""

from __future__ import annotations

import enum
import functools
import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from app.core.echo import echo
from app.core.errors import BadUserInput
from app.core.records import Provider, SessionRecord, SessionStatus
from app.geo import Location
from app.risk.signals import SignalKind

Predicate = Callable[[SessionRecord], bool]
Locate = Callable[[SessionRecord], Location | None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Part(enum.Enum):
    """The parts of a filter; an upstream that applies a part itself spares the gateway."""

    SESSION_IDS = "session_ids"
    USERS = "users"
    STATUSES = "statuses"
    CREATED = "created"
    EXPIRES = "expires"
    REMOTE_ADDRESS = "remote_address"
    USER_AGENT = "user_agent"
    # No upstream knows these: always the gateway's.
    LAST_SEEN = "last_seen"
    COUNTRIES = "countries"
    ASNS = "asns"
    SIGNALS = "signals"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range: `since` inclusive, `until` exclusive; either may be open."""

    since: datetime | None = None
    until: datetime | None = None

    def contains(self, value: datetime | None) -> bool:
        if value is None:
            return False
        if self.since is not None and value < self.since:
            return False
        return self.until is None or value < self.until


def parse_network(text: str) -> Network:
    """An IP address or CIDR network, as given to `remoteAddress`."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise BadUserInput(
            f"remoteAddress '{echo(text)}' is not an IP address or CIDR network "
            "(e.g. 203.0.113.24 or 203.0.113.0/24)."
        ) from None


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What a `sessions` query selects; None means "not restricted by this part"."""

    providers: frozenset[Provider] | None = None
    session_ids: frozenset[tuple[Provider, str]] | None = None
    users: frozenset[tuple[Provider, str]] | None = None
    statuses: frozenset[SessionStatus] | None = None
    created: TimeRange | None = None
    expires: TimeRange | None = None
    remote_address: Network | None = None
    user_agent: str | None = None
    last_seen: TimeRange | None = None
    countries: frozenset[str] | None = None  # ISO 3166-1 alpha-2, upper case
    asns: frozenset[int] | None = None
    signals: frozenset[SignalKind] | None = None
    # How the countries and asns parts find a session's place (the app's GeoIP databases),
    # and, for the signals part, the kinds of each flagged session by global id, worked out
    # over the sessions of everyone in scope before the listing is read. Attached where the
    # filter runs (with_locate, with_flagged); neither is part of what the filter means.
    locate: Locate | None = field(default=None, compare=False, repr=False)
    flagged: Mapping[str, frozenset[SignalKind]] | None = field(
        default=None, compare=False, repr=False
    )
    # Set for scoped callers: the user check also runs in the gateway, whatever an upstream
    # is trusted to filter, so an upstream's reading of a user filter can never widen access.
    enforce_users: bool = False

    def with_locate(self, locate: Locate) -> SessionFilter:
        """This filter, finding places with `locate` (needed by countries and asns)."""
        return replace(self, locate=locate)

    def with_flagged(self, flagged: Mapping[str, frozenset[SignalKind]]) -> SessionFilter:
        """This filter, with the signals part answered by `flagged` (global id -> kinds)."""
        return replace(self, flagged=flagged)

    def in_scope(self, enabled: Iterable[Provider]) -> list[Provider]:
        """Enabled providers that can hold a matching session (ids and users name providers)."""
        scope = [p for p in enabled if self.providers is None or p in self.providers]
        for pairs in (self.session_ids, self.users):
            if pairs is not None:
                named = {provider for provider, _ in pairs}
                scope = [p for p in scope if p in named]
        return scope

    def session_ids_of(self, provider: Provider) -> list[str] | None:
        """Native session ids asked for at `provider`, sorted; None when ids are not filtered."""
        if self.session_ids is None:
            return None
        return sorted(native for p, native in self.session_ids if p is provider)

    def users_of(self, provider: Provider) -> list[str] | None:
        """Native user ids asked for at `provider`, sorted; None when users are not filtered."""
        if self.users is None:
            return None
        return sorted(native for p, native in self.users if p is provider)

    def residual(self, pushed_down: frozenset[Part]) -> Predicate | None:
        """The check the gateway must still make after an upstream applied `pushed_down`."""
        if self.enforce_users:
            pushed_down = pushed_down - {Part.USERS}
        checks = [check for part, check in self._checks() if part not in pushed_down]
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]  # the usual case, read for every record: no generator around it
        return lambda record: all(check(record) for check in checks)

    def matches(self, record: SessionRecord) -> bool:
        """Whether `record` satisfies the whole filter."""
        predicate = self.residual(frozenset())
        return (self.providers is None or record.provider in self.providers) and (
            predicate is None or predicate(record)
        )

    def _checks(self) -> list[tuple[Part, Predicate]]:
        checks: list[tuple[Part, Predicate]] = []
        if self.session_ids is not None:
            ids = self.session_ids
            checks.append((Part.SESSION_IDS, lambda r: (r.provider, r.native_id) in ids))
        if self.users is not None:
            users = self.users
            checks.append(
                (Part.USERS, lambda r: (r.provider, r.user.native_id if r.user else None) in users)
            )
        if self.statuses is not None:
            statuses = self.statuses
            checks.append((Part.STATUSES, lambda r: r.status in statuses))
        if self.created is not None:
            created = self.created
            checks.append((Part.CREATED, lambda r: created.contains(r.created_at)))
        if self.expires is not None:
            expires = self.expires
            checks.append((Part.EXPIRES, lambda r: expires.contains(r.expires_at)))
        if self.remote_address is not None:
            checks.append((Part.REMOTE_ADDRESS, self._remote_matches))
        if self.user_agent is not None:
            checks.append((Part.USER_AGENT, self._agent_matches))
        if self.last_seen is not None:
            seen = self.last_seen
            checks.append((Part.LAST_SEEN, lambda r: seen.contains(r.last_seen_at)))
        if self.countries is not None:
            countries = self.countries
            place = self._place
            checks.append(
                (Part.COUNTRIES, lambda r: getattr(place(r), "country_code", None) in countries)
            )
        if self.asns is not None:
            asns = self.asns
            place = self._place
            checks.append((Part.ASNS, lambda r: getattr(place(r), "asn", None) in asns))
        if self.signals is not None:
            kinds, flagged = self.signals, self.flagged or {}
            empty: frozenset[SignalKind] = frozenset()
            checks.append(
                (Part.SIGNALS, lambda r: not kinds.isdisjoint(flagged.get(r.global_id, empty)))
            )
        return checks

    def _place(self, record: SessionRecord) -> Location | None:
        return self.locate(record) if self.locate is not None else None

    def _remote_matches(self, record: SessionRecord) -> bool:
        address = record.remote_address or (record.user_agent.ip if record.user_agent else None)
        if address is None or self.remote_address is None:
            return False
        try:
            return ipaddress.ip_address(address) in self.remote_address
        except ValueError:
            return False

    def _agent_matches(self, record: SessionRecord) -> bool:
        agent = record.user_agent
        if agent is None or self.user_agent is None:
            return False
        texts = (agent.raw, agent.description, agent.browser_name, agent.os_name, agent.device_name)
        needle = self.user_agent.casefold()
        return any(text and needle in text.casefold() for text in texts)

    def fingerprint(self) -> str:
        """A stable digest of the filter, to bind cursors to the query that made them."""
        return _fingerprint(self)


# Filters recur (a view polls its user's sessions): a digest is JSON and a SHA-256, several
# times what a lookup costs, which only hashes the filter (docs/performance.md).
@functools.lru_cache(maxsize=1024)
def _fingerprint(given: SessionFilter) -> str:
    def pairs(values: frozenset[tuple[Provider, str]] | None) -> list[list[str]] | None:
        return None if values is None else sorted([p.value, n] for p, n in values)

    def span(value: TimeRange | None) -> list[str | None] | None:
        if value is None:
            return None
        # In UTC: equal filters (so one kept digest) must write equal instants alike.
        return [t.astimezone(UTC).isoformat() if t else None for t in (value.since, value.until)]

    canonical: dict[str, object] = {
        "p": sorted(p.value for p in given.providers) if given.providers is not None else None,
        "i": pairs(given.session_ids),
        "u": pairs(given.users),
        "s": sorted(s.value for s in given.statuses) if given.statuses is not None else None,
        "c": span(given.created),
        "e": span(given.expires),
        "r": str(given.remote_address) if given.remote_address is not None else None,
        "a": given.user_agent.casefold() if given.user_agent is not None else None,
    }
    # Added only when set, so the digests of filters without them stay what they were.
    if given.last_seen is not None:
        canonical["l"] = span(given.last_seen)
    if given.countries is not None:
        canonical["co"] = sorted(given.countries)
    if given.asns is not None:
        canonical["as"] = sorted(given.asns)
    if given.signals is not None:
        canonical["sg"] = sorted(k.value for k in given.signals)
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
