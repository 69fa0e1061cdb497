"""SessionFilter's in-gateway predicate against a few hand-made sessions, each expectation
written down; and the fingerprint that binds cursors to the filter that made them."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.core.errors import BadUserInput
from app.core.records import (
    Provider,
    SessionRecord,
    SessionStatus,
    UserAgentRecord,
    UserRecord,
)
from app.geo import Location
from app.listing.filter import Part, SessionFilter, TimeRange, parse_network
from app.listing.streams import LocalStream, Stream
from app.risk.signals import SignalKind
from app.upstream import fanout as plan
from app.upstream.providers.privx.records import PrivxExtras

EXTRAS = PrivxExtras("LOGIN", None, None, None, None, logged_out=False)


def at(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def session(
    native_id: str,
    *,
    provider: Provider = Provider.PRIVX,
    user: str | None = "u1",
    status: SessionStatus = SessionStatus.ACTIVE,
    created: int = 10,
    expires: int | None = 20,
    remote: str | None = None,
    agent: UserAgentRecord | None = None,
) -> SessionRecord:
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=f"g-{native_id}",
        status=status,
        created_at=at(created),
        extras=EXTRAS,
        user=UserRecord(provider, user) if user else None,
        expires_at=at(expires) if expires else None,
        remote_address=remote,
        user_agent=agent,
    )


FIREFOX = UserAgentRecord(raw="Mozilla/5.0 (X11; Linux) Firefox/128.0", browser_name="Firefox")
PHONE = UserAgentRecord(ip="198.51.100.7", os_name="Android", device_name="Pixel 8")
SESSIONS = [
    session("a", remote="203.0.113.24", agent=FIREFOX),
    session("b", user="u2", status=SessionStatus.EXPIRED, created=5, expires=6, agent=PHONE),
    session("c", provider=Provider.ZITADEL, user=None, expires=None, remote="2001:db8::1"),
    session("d", provider=Provider.ZITADEL, user="u1", created=15, remote="not an address"),
    session("e", provider=Provider.KRATOS, user="u3", created=12),  # no address, no agent
]


def matching(given: SessionFilter) -> list[str]:
    return [s.native_id for s in SESSIONS if given.matches(s)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SessionFilter(), ["a", "b", "c", "d", "e"]),
        (SessionFilter(providers=frozenset({Provider.ZITADEL})), ["c", "d"]),
        (
            SessionFilter(session_ids=frozenset({(Provider.PRIVX, "b"), (Provider.PRIVX, "c")})),
            ["b"],
        ),
        (
            SessionFilter(users=frozenset({(Provider.PRIVX, "u1"), (Provider.ZITADEL, "u1")})),
            ["a", "d"],
        ),
        (SessionFilter(users=frozenset({(Provider.ZITADEL, "u2")})), []),
        (SessionFilter(statuses=frozenset({SessionStatus.EXPIRED})), ["b"]),
        (SessionFilter(created=TimeRange(since=at(10))), ["a", "c", "d", "e"]),
        (SessionFilter(created=TimeRange(until=at(10))), ["b"]),
        (SessionFilter(created=TimeRange(at(6), at(15))), ["a", "c", "e"]),
        (SessionFilter(expires=TimeRange(until=at(20))), ["b"]),  # no expiry: never in range
        (SessionFilter(remote_address=parse_network("203.0.113.0/24")), ["a"]),
        (SessionFilter(remote_address=parse_network("198.51.100.7")), ["b"]),  # the agent's IP
        (SessionFilter(remote_address=parse_network("2001:db8::/32")), ["c"]),
        (SessionFilter(remote_address=parse_network("0.0.0.0/0")), ["a", "b"]),
        (SessionFilter(user_agent="FIREFOX"), ["a"]),
        (SessionFilter(user_agent="pixel"), ["b"]),
        (SessionFilter(user_agent="android"), ["b"]),
        (SessionFilter(user_agent="linux"), ["a"]),
        (
            SessionFilter(
                providers=frozenset({Provider.PRIVX}), statuses=frozenset({SessionStatus.ACTIVE})
            ),
            ["a"],
        ),
    ],
)
def test_a_filter_selects_exactly_the_sessions_it_describes(
    given: SessionFilter, expected: list[str]
) -> None:
    assert matching(given) == expected


def test_an_upstreams_filtering_is_trusted_except_enforced_users() -> None:
    given = SessionFilter(
        users=frozenset({(Provider.PRIVX, "u2")}), statuses=frozenset({SessionStatus.ACTIVE})
    )
    statuses_only = given.residual(frozenset({Part.USERS}))
    assert statuses_only is not None
    assert [s.native_id for s in SESSIONS if statuses_only(s)] == ["a", "c", "d", "e"]
    assert given.residual(frozenset({Part.USERS, Part.STATUSES})) is None

    enforced = SessionFilter(users=frozenset({(Provider.PRIVX, "u2")}), enforce_users=True)
    users_again = enforced.residual(frozenset({Part.USERS}))
    assert users_again is not None
    assert [s.native_id for s in SESSIONS if users_again(s)] == ["b"]


def test_ids_and_users_are_given_per_provider_sorted() -> None:
    given = SessionFilter(
        session_ids=frozenset(
            {(Provider.PRIVX, "s2"), (Provider.PRIVX, "s1"), (Provider.KRATOS, "k")}
        ),
        users=frozenset({(Provider.ZITADEL, "z")}),
    )
    assert given.session_ids_of(Provider.PRIVX) == ["s1", "s2"]
    assert given.session_ids_of(Provider.ZITADEL) == []
    assert given.users_of(Provider.ZITADEL) == ["z"]
    assert given.users_of(Provider.PRIVX) == []
    assert SessionFilter().session_ids_of(Provider.PRIVX) is None
    assert SessionFilter().users_of(Provider.PRIVX) is None
    everything = list(Provider)
    assert given.in_scope(everything) == []  # ids name PRIVX and KRATOS, users only ZITADEL
    assert SessionFilter(session_ids=given.session_ids).in_scope(everything) == [
        p for p in everything if p in (Provider.PRIVX, Provider.KRATOS)
    ]


def test_each_part_of_a_filter_changes_its_fingerprint() -> None:
    parts = [
        SessionFilter(),
        SessionFilter(providers=frozenset({Provider.PRIVX})),
        SessionFilter(session_ids=frozenset({(Provider.PRIVX, "a")})),
        SessionFilter(users=frozenset({(Provider.PRIVX, "a")})),
        SessionFilter(statuses=frozenset({SessionStatus.ACTIVE})),
        SessionFilter(created=TimeRange(since=at(1))),
        SessionFilter(created=TimeRange(until=at(1))),
        SessionFilter(expires=TimeRange(since=at(1))),
        SessionFilter(remote_address=parse_network("203.0.113.0/24")),
        SessionFilter(remote_address=parse_network("198.51.100.0/24")),
        SessionFilter(user_agent="firefox"),
        SessionFilter(last_seen=TimeRange(since=at(1))),
        SessionFilter(countries=frozenset({"DE"})),
        SessionFilter(countries=frozenset({"AU"})),
        SessionFilter(asns=frozenset({64500})),
        SessionFilter(signals=frozenset({SignalKind.NEW_DEVICE})),
        SessionFilter(signals=frozenset({SignalKind.IMPOSSIBLE_TRAVEL})),
    ]
    prints = [p.fingerprint() for p in parts]
    assert len(set(prints)) == len(parts)
    assert all(len(p) == 16 for p in prints)
    # The same filter, however it was written, keeps its cursors valid.
    assert SessionFilter(user_agent="FireFox").fingerprint() == prints[10]
    assert (
        SessionFilter(providers=frozenset({Provider.PRIVX, Provider.ZITADEL})).fingerprint()
        == SessionFilter(providers=frozenset({Provider.ZITADEL, Provider.PRIVX})).fingerprint()
    )


def test_a_network_may_have_host_bits_and_a_bad_one_is_named() -> None:
    assert parse_network(" 203.0.113.24/24 ") == ipaddress.ip_network("203.0.113.0/24")
    with pytest.raises(BadUserInput) as caught:
        parse_network("203.0.113.300")
    assert str(caught.value) == (
        "remoteAddress '203.0.113.300' is not an IP address or CIDR network "
        "(e.g. 203.0.113.24 or 203.0.113.0/24)."
    )


def test_a_plan_fingerprint_binds_filter_order_and_streams() -> None:
    async def nothing() -> list[SessionRecord]:
        return []

    def stream(key: str) -> Stream:
        return LocalStream(key, Provider.PRIVX, nothing, None, descending=True)

    one: list[Stream] = [stream("a"), stream("b")]
    two: list[Stream] = [stream("a"), stream("c")]
    prints = {
        plan.fingerprint(SessionFilter(), True, one),
        plan.fingerprint(SessionFilter(), False, one),
        plan.fingerprint(SessionFilter(), True, two),
        plan.fingerprint(SessionFilter(user_agent="x"), True, one),
    }
    assert len(prints) == 4


PLACES = {
    "203.0.113.24": Location(country_code="DE", asn=64501),
    "198.51.100.7": Location(country_code="FI", asn=64500),
    "2001:db8::1": Location(country_code="JP"),  # no ASN known
}


def place(record: SessionRecord) -> Location | None:
    address = record.remote_address or (record.user_agent.ip if record.user_agent else None)
    return PLACES.get(address or "")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SessionFilter(countries=frozenset({"DE", "FI"})), ["a", "b"]),
        (SessionFilter(countries=frozenset({"JP"})), ["c"]),
        (SessionFilter(asns=frozenset({64500})), ["b"]),
        (SessionFilter(countries=frozenset({"DE"}), asns=frozenset({64500})), []),
    ],
)
def test_countries_and_asns_match_the_places_found(
    given: SessionFilter, expected: list[str]
) -> None:
    assert matching(given.with_locate(place)) == expected
    assert matching(given) == []  # without a way to find places, nothing is in one


def test_last_seen_and_signals() -> None:
    seen = replace(SESSIONS[0], last_seen_at=at(12))
    assert SessionFilter(last_seen=TimeRange(since=at(11))).matches(seen)
    assert not SessionFilter(last_seen=TimeRange(since=at(13))).matches(seen)
    assert not SessionFilter(last_seen=TimeRange(since=at(1))).matches(SESSIONS[1])  # none
    travel = SessionFilter(signals=frozenset({SignalKind.IMPOSSIBLE_TRAVEL}))
    flagged = {"g-a": frozenset({SignalKind.IMPOSSIBLE_TRAVEL}), "g-b": frozenset()}
    assert [s.native_id for s in SESSIONS if travel.with_flagged(flagged).matches(s)] == ["a"]
    # Where the signals come from is not part of what the filter means (nor of its cursors).
    assert travel.with_flagged(flagged) == travel
    assert travel.with_flagged(flagged).fingerprint() == travel.fingerprint()
