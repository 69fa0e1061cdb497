"""Ending sessions person-wide over real HTTP, checked against what the mocks hold afterwards:
signOutOtherSessions, revokePersonSessions and revokeSessions (dry and real runs), with a
provider failing and with scoped callers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.core import ids
from app.core.records import Provider, SessionRecord
from app.mocks import Fault, FaultPlan
from app.mocks.people import person_id
from tests.support.live import post
from tests.support.people import (
    ADMIN_KEY,
    PeopleStack,
    active_person,
    bearer,
    people_stack,
)

pytestmark = pytest.mark.server

RESULT = "ended { id status provider } failed { sessionId provider code message }"
SIGN_OUT = f"mutation SignOut {{ signOutOtherSessions {{ {RESULT} }} }}"
REVOKE_PERSON = f"""
mutation RevokePerson($person: ID!, $keep: [ID!]) {{
  revokePersonSessions(person: $person, keep: $keep) {{ {RESULT} }}
}}
"""
REVOKE_SESSIONS = f"""
mutation RevokeSessions($filter: SessionFilterInput!, $dryRun: Boolean!, $max: Int!) {{
  revokeSessions(filter: $filter, dryRun: $dryRun, max: $max) {{
    dryRun matchedCount matched {{ id }} {RESULT}
  }}
}}
"""
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def people(tmp_path: Path) -> Iterator[PeopleStack]:
    with people_stack(tmp_path) as stack:
        yield stack


def _data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _open(records: list[SessionRecord]) -> list[str]:
    return sorted(r.global_id for r in records if r.status.value in {"ACTIVE", "PENDING"})


def test_sign_out_other_sessions_leaves_only_the_current_one(people: PeopleStack) -> None:
    person, current = active_person(people)
    before = people.sessions(person)
    token = people.token(person, current)

    result = _data(post(people.url, SIGN_OUT, headers=bearer(token)))["signOutOtherSessions"]

    assert result["failed"] == []
    ended = sorted(s["id"] for s in result["ended"])
    assert ended == sorted(set(_open(before)) - {current.global_id})
    assert len({s["provider"] for s in result["ended"]} | {"ZITADEL"}) >= 3
    assert {s["status"] for s in result["ended"]} <= {"REVOKED", "LOGGED_OUT"}
    # At every provider, exactly the current session is still open.
    assert _open(people.sessions(person)) == [current.global_id]
    # Again: nothing is left to end.
    again = _data(post(people.url, SIGN_OUT, headers=bearer(token)))["signOutOtherSessions"]
    assert again == {"ended": [], "failed": []}


def test_sign_out_needs_a_current_session_and_ends_nothing_without(people: PeopleStack) -> None:
    person, _ = active_person(people)
    before = people.sessions(person)

    body = post(people.url, SIGN_OUT, headers=bearer(people.token(person)))

    assert body["errors"][0]["extensions"]["code"] == "NO_CURRENT_SESSION"
    assert people.sessions(person) == before


def test_a_scoped_caller_signs_out_only_its_own_users(people: PeopleStack) -> None:
    person, current = active_person(people)
    before = people.sessions(person)
    token = people.token(person, current, only=Provider.ZITADEL)

    result = _data(post(people.url, SIGN_OUT, headers=bearer(token)))["signOutOtherSessions"]

    zitadel = [r for r in before if r.provider is Provider.ZITADEL]
    assert sorted(s["id"] for s in result["ended"]) == sorted(
        set(_open(zitadel)) - {current.global_id}
    )
    after = people.sessions(person)
    others = [r for r in before if r.provider is not Provider.ZITADEL]
    assert _open([r for r in after if r.provider is not Provider.ZITADEL]) == _open(others)
    # Nor may it end a person's sessions, or sessions by filter.
    global_id = ids.encode_person(person_id(person))
    for query, variables in (
        (REVOKE_PERSON, {"person": global_id}),
        (REVOKE_SESSIONS, {"filter": {}, "dryRun": True, "max": 10}),
    ):
        body = post(people.url, query, variables, bearer(token))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_revoke_person_sessions_keeps_exactly_what_it_is_told(
    people: PeopleStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="session_gateway.sign_out")
    person, _ = active_person(people)
    open_before = _open(people.sessions(person))
    keep = open_before[:2]
    variables = {"person": ids.encode_person(person_id(person)), "keep": keep}

    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]

    assert result["failed"] == []
    assert sorted(s["id"] for s in result["ended"]) == sorted(set(open_before) - set(keep))
    assert _open(people.sessions(person)) == sorted(keep)
    # Signing out everywhere: `keep` empty.
    variables["keep"] = []
    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]
    assert sorted(s["id"] for s in result["ended"]) == sorted(keep)
    assert _open(people.sessions(person)) == []
    # Each run is one audit line: what, who, how many.
    lines = [r.getMessage() for r in caplog.records if r.name == "session_gateway.sign_out"]
    assert len(lines) == 2
    assert lines[1].startswith(f"revokePersonSessions of {person_id(person)!r} by key:admin")
    assert f"ended {len(keep)} " in lines[1]


def test_a_provider_failing_fails_its_own_sessions_only(people: PeopleStack) -> None:
    person, _ = active_person(people)
    open_before = [r for r in people.sessions(person) if r.global_id in _open([r])]
    kratos = [r for r in open_before if r.provider is Provider.KRATOS]
    assert kratos
    # Kratos ends nothing (its listings still answer), Prefactor cannot even be listed.
    paths = tuple(f"/admin/sessions/{r.native_id}" for r in kratos)
    people.live.mocks.set_fault("KRATOS", FaultPlan(Fault.UNAVAILABLE, paths=paths))
    people.live.mocks.set_fault("PREFACTOR", FaultPlan(Fault.SERVER_ERROR))
    variables = {"person": ids.encode_person(person_id(person)), "keep": []}

    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]

    failed = {(f["sessionId"], f["provider"], f["code"]) for f in result["failed"]}
    assert failed == {
        (None, "PREFACTOR", "UPSTREAM_UNAVAILABLE"),
        *((r.global_id, "KRATOS", "UPSTREAM_UNAVAILABLE") for r in kratos),
    }
    elsewhere = [r for r in open_before if r.provider not in {Provider.KRATOS, Provider.PREFACTOR}]
    assert sorted(s["id"] for s in result["ended"]) == _open(elsewhere)
    people.live.mocks.clear_faults()
    # Running it again ends what is left.
    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]
    assert result["failed"] == []
    assert _open(people.sessions(person)) == []


def test_revoke_sessions_dry_run_ends_nothing_and_the_real_run_ends_what_it_listed(
    people: PeopleStack,
) -> None:
    person, _ = active_person(people)
    network = next(r.remote_address for r in people.sessions(person) if r.remote_address)
    since = min(r.created_at for r in people.sessions(person)).isoformat()
    query_filter = {"remoteAddress": network, "createdAt": {"since": since}}
    before = {p: list(people.data.sessions(p.value)) for p in Provider}

    dry = _data(
        post(
            people.url, REVOKE_SESSIONS, {"filter": query_filter, "dryRun": True, "max": 500}, ADMIN
        )
    )["revokeSessions"]

    assert dry["dryRun"] is True
    assert dry["matchedCount"] == len(dry["matched"]) > 0
    assert dry["ended"] == []
    assert dry["failed"] == []
    assert {p: list(people.data.sessions(p.value)) for p in Provider} == before
    # More match than `max`: refused, nothing ended.
    over = post(
        people.url,
        REVOKE_SESSIONS,
        {"filter": query_filter, "dryRun": False, "max": dry["matchedCount"] - 1 or 1},
        ADMIN,
    )
    if dry["matchedCount"] > 1:
        assert over["errors"][0]["extensions"]["code"] == "TOO_MANY_SESSIONS"
        assert {p: list(people.data.sessions(p.value)) for p in Provider} == before

    real = _data(
        post(
            people.url,
            REVOKE_SESSIONS,
            {"filter": query_filter, "dryRun": False, "max": dry["matchedCount"]},
            ADMIN,
        )
    )["revokeSessions"]

    assert real["failed"] == []
    assert sorted(s["id"] for s in real["ended"]) == sorted(s["id"] for s in dry["matched"])
    again = _data(
        post(
            people.url, REVOKE_SESSIONS, {"filter": query_filter, "dryRun": True, "max": 500}, ADMIN
        )
    )["revokeSessions"]
    assert again["matchedCount"] == 0


@pytest.mark.parametrize("bound", [0, -1, 10_001])
def test_revoke_sessions_refuses_a_max_out_of_bounds(people: PeopleStack, bound: int) -> None:
    body = post(people.url, REVOKE_SESSIONS, {"filter": {}, "dryRun": False, "max": bound}, ADMIN)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 10000" in body["errors"][0]["message"]


def test_revoke_sessions_matching_nothing_says_so(people: PeopleStack) -> None:
    nobody = {"users": [{"provider": "PRIVX", "nativeId": "nobody-at-all"}]}
    result = _data(
        post(people.url, REVOKE_SESSIONS, {"filter": nobody, "dryRun": False, "max": 5}, ADMIN)
    )["revokeSessions"]
    assert result == {"dryRun": False, "matchedCount": 0, "matched": [], "ended": [], "failed": []}


def test_revoke_person_sessions_of_an_unknown_person_is_a_coded_error(people: PeopleStack) -> None:
    body = post(people.url, REVOKE_PERSON, {"person": ids.encode_person("p-nobody")}, ADMIN)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "No person with id" in body["errors"][0]["message"]


def test_a_sign_out_purges_the_cached_viewer_page(tmp_path: Path) -> None:
    page = "query Page { viewer { sessions(first: 100) { nodes { id status current } } } }"
    with people_stack(tmp_path, {"GATEWAY_RESPONSE_CACHE_TTL": "600"}) as people:
        person, current = active_person(people)
        headers = bearer(people.token(person, current))
        first = _data(post(people.url, page, headers=headers))["viewer"]["sessions"]["nodes"]
        assert _data(post(people.url, page, headers=headers))["viewer"]["sessions"]["nodes"] == (
            first
        )

        ended = _data(post(people.url, SIGN_OUT, headers=headers))["signOutOtherSessions"]["ended"]

        after = _data(post(people.url, page, headers=headers))["viewer"]["sessions"]["nodes"]
        statuses = {n["id"]: n["status"] for n in after}
        assert ended
        # Every ended session shows its ended status, or is gone where its provider deletes it.
        assert all(statuses.get(s["id"], s["status"]) == s["status"] for s in ended)
        assert statuses[current.global_id] == "ACTIVE"


def test_the_cache_keeps_each_tokens_current_session_apart(tmp_path: Path) -> None:
    page = "query Page { viewer { currentSession { id } } }"
    with people_stack(tmp_path, {"GATEWAY_RESPONSE_CACHE_TTL": "600"}) as people:
        person, current = active_person(people)
        other = next(
            r
            for r in people.sessions(person)
            if r.provider is Provider.ZITADEL and r.global_id != current.global_id
        )
        for session in (current, other, current):
            headers = bearer(people.token(person, session))
            viewer = _data(post(people.url, page, headers=headers))["viewer"]
            assert viewer["currentSession"] == {"id": session.global_id}


async def test_every_end_reaches_session_events_at_once(tmp_path: Path) -> None:
    # Polls far apart: an ENDED event can only come from the sign-out itself.
    with people_stack(tmp_path, {"GATEWAY_POLL_INTERVAL": "3600"}) as people:
        person, _ = active_person(people)
        users = [{"provider": p.value, "nativeId": n} for p, n in people.users(person)]
        watch = (
            "subscription($users: [ProviderUserInput!]) { sessionEvents(filter: {users: $users},"
            " includeInitial: true) { kind sessionId } }"
        )
        body = {"query": watch, "variables": {"users": users}}
        headers = {**ADMIN, "Accept": "text/event-stream"}
        seen: list[dict[str, str]] = []
        async with (
            aiohttp.ClientSession() as http,
            http.post(people.url, json=body, headers=headers) as stream,
        ):

            async def events(count: int) -> None:
                while len(seen) < count:
                    line = (await stream.content.readline()).decode()
                    if line.startswith("data:") and '"sessionEvents"' in line:
                        seen.append(json.loads(line[5:])["data"]["sessionEvents"])

            initial = len(_open(people.sessions(person)))
            await asyncio.wait_for(events(initial), 60)
            assert {e["kind"] for e in seen} == {"CREATED"}
            variables = {"person": ids.encode_person(person_id(person)), "keep": []}
            result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))
            ended = {s["id"] for s in result["revokePersonSessions"]["ended"]}
            await asyncio.wait_for(events(initial + len(ended)), 60)
        assert {e["sessionId"] for e in seen[initial:] if e["kind"] == "ENDED"} >= ended
