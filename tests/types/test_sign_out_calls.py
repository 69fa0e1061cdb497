"""What ending sessions person-wide asks of each upstream, counted at the mocks over real HTTP:
one end call per session (none for a PrivX child whose parent the same run ends), no lookup
before an end, and no read beyond the listing the run makes (its dry run reads the same) and one
PrivX family listing. Results are checked against what the mocks hold afterwards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider, SessionRecord
from app.mocks import Fault, FaultPlan
from app.mocks.calls import Call
from app.mocks.data import Person
from app.mocks.people import person_id
from tests.support.live import post
from tests.support.people import ADMIN_KEY, PeopleStack, bearer, people_stack

pytestmark = pytest.mark.server

RESULT = "ended { id status provider } failed { sessionId provider code }"
SIGN_OUT = f"mutation SignOut {{ signOutOtherSessions {{ {RESULT} }} }}"
REVOKE_PERSON = f"""
mutation RevokePerson($person: ID!, $keep: [ID!]) {{
  revokePersonSessions(person: $person, keep: $keep) {{ {RESULT} }}
}}
"""
DRY_RUN = """
mutation DryRun($filter: SessionFilterInput!) {
  revokeSessions(filter: $filter, dryRun: true, max: 10000) { matchedCount failed { code } }
}
"""
REVOKE_SESSIONS = f"""
mutation RevokeSessions($filter: SessionFilterInput!) {{
  revokeSessions(filter: $filter, dryRun: false, max: 10000) {{ {RESULT} }}
}}
"""
SESSION = "query One($id: ID!) { session(id: $id) { id status } }"
ADMIN = {"X-API-Key": ADMIN_KEY}
OPEN = {"ACTIVE", "PENDING"}


@pytest.fixture
def people(tmp_path: Path) -> Iterator[PeopleStack]:
    with people_stack(tmp_path) as stack:
        yield stack


def _data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _is_end(provider: Provider, call: Call) -> bool:
    """Whether `call` ends a session (every other call of these runs reads)."""
    if provider is Provider.PRIVX:
        return call.path.endswith("/terminate")
    if provider is Provider.PREFACTOR:
        return call.path.endswith("/revoke")
    if provider is Provider.HYPERID:
        return call.path == "/api/logout"
    return call.method == "DELETE"  # ZITADEL, Kratos


def _calls(people: PeopleStack) -> dict[Provider, tuple[Counter[str], int]]:
    """Per provider: the sessions its end calls named (by path), and how many reads it got."""
    counted = {}
    for provider in Provider:
        calls = people.live.calls(provider.value)
        ends = Counter(c.path for c in calls if _is_end(provider, c))
        counted[provider] = (ends, sum(not _is_end(provider, c) for c in calls))
    people.live.reset_calls()
    return counted


def _open(records: list[SessionRecord]) -> list[SessionRecord]:
    return [r for r in records if r.status.value in OPEN]


def _users(people: PeopleStack, person: Person) -> list[dict[str, str]]:
    return [{"provider": p.value, "nativeId": n} for p, n in sorted(people.users(person), key=str)]


def _widest_person(people: PeopleStack) -> tuple[Person, SessionRecord]:
    """The person whose other open sessions are at the most providers, with an active ZITADEL
    session of theirs to be the current one."""
    found = []
    for person in people.data.people:
        sessions = _open(people.sessions(person))
        zitadel = [
            r for r in sessions if r.provider is Provider.ZITADEL and r.status.value == "ACTIVE"
        ]
        if zitadel:
            wide = len({r.provider for r in sessions if r is not zitadel[0]})
            found.append((wide, len(sessions), person, zitadel[0]))
    _, _, person, current = max(found, key=lambda f: f[:2])
    return person, current


def _family_person(people: PeopleStack) -> tuple[Person, list[SessionRecord]]:
    """A person with an open PrivX session that has open children, and those children."""
    for person in people.data.people:
        privx = [r for r in _open(people.sessions(person)) if r.provider is Provider.PRIVX]
        open_ids = {r.native_id for r in privx}
        children = [r for r in privx if r.parent_native_id in open_ids]
        if children:
            return person, children
    raise LookupError("no person with an open PrivX session and open children")


def test_a_sign_out_ends_each_session_with_one_call_and_reads_only_its_listing(
    people: PeopleStack,
) -> None:
    person, current = _widest_person(people)
    ending = [r for r in _open(people.sessions(person)) if r.global_id != current.global_id]
    assert len({r.provider for r in ending}) >= 4
    people.live.reset_calls()
    dry = _data(post(people.url, DRY_RUN, {"filter": {"users": _users(people, person)}}, ADMIN))
    assert dry["revokeSessions"]["failed"] == []
    listing = {p: reads for p, (_, reads) in _calls(people).items()}

    result = _data(post(people.url, SIGN_OUT, headers=bearer(people.token(person, current))))
    calls = _calls(people)

    ended = result["signOutOtherSessions"]["ended"]
    assert result["signOutOtherSessions"]["failed"] == []
    assert sorted(s["id"] for s in ended) == sorted(r.global_id for r in ending)
    assert [r.global_id for r in _open(people.sessions(person))] == [current.global_id]
    for provider in Provider:
        mine = [r for r in ending if r.provider is provider]
        parents = {r.native_id for r in mine}
        own_call = [r for r in mine if r.parent_native_id not in parents]
        ends, reads = calls[provider]
        # One end call per session, none twice; a PrivX child rides on its parent's.
        assert sum(ends.values()) == len(ends) == len(own_call), provider
        # The listing's reads, and nothing looked up by id before an end; PrivX lists the
        # families of what it ended once, to name the children that ended with them.
        family = 1 if provider is Provider.PRIVX and mine else 0
        assert reads == listing[provider] + family, provider


def test_a_privx_child_ends_with_its_parent_without_a_call_of_its_own(
    people: PeopleStack,
) -> None:
    person, children = _family_person(people)
    privx = [r for r in _open(people.sessions(person)) if r.provider is Provider.PRIVX]
    variables = {"person": ids.encode_person(person_id(person)), "keep": []}
    people.live.reset_calls()

    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]

    assert result["failed"] == []
    ended = {s["id"]: s["status"] for s in result["ended"] if s["provider"] == "PRIVX"}
    assert ended == {r.global_id: "LOGGED_OUT" for r in privx}
    terminated = {c.path for c in people.live.calls("PRIVX") if c.path.endswith("/terminate")}
    assert not any(f"/sessions/{r.native_id}/terminate" in terminated for r in children)
    assert len(terminated) == len(privx) - len(children)
    assert _open(people.sessions(person)) == []


def test_a_privx_child_whose_parent_fails_is_ended_on_its_own(people: PeopleStack) -> None:
    person, children = _family_person(people)
    parent = children[0].parent_native_id
    path = f"/auth/api/v1/sessionstorage/sessions/{parent}/terminate"
    people.live.mocks.set_fault("PRIVX", FaultPlan(Fault.UNAVAILABLE, paths=(path,)))
    variables = {"person": ids.encode_person(person_id(person)), "keep": []}

    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]

    parent_id = ids.encode(ids.SESSION, Provider.PRIVX, parent or "")
    assert {(f["sessionId"], f["code"]) for f in result["failed"]} == {
        (parent_id, "UPSTREAM_UNAVAILABLE")
    }
    orphans = {r.global_id for r in children if r.parent_native_id == parent}
    assert orphans <= {s["id"] for s in result["ended"]}
    assert [r.global_id for r in _open(people.sessions(person))] == [parent_id]
    people.live.mocks.clear_faults()


def test_ending_a_privx_parent_in_bulk_purges_its_childrens_cached_answers(
    tmp_path: Path,
) -> None:
    with people_stack(tmp_path, {"GATEWAY_RESPONSE_CACHE_TTL": "600"}) as people:
        _, children = _family_person(people)
        child = children[0]
        assert child.parent_native_id is not None
        parent_id = ids.encode(ids.SESSION, Provider.PRIVX, child.parent_native_id)
        seen = _data(post(people.url, SESSION, {"id": child.global_id}, ADMIN))["session"]
        assert seen == {"id": child.global_id, "status": "ACTIVE"}

        # Only the parent matches, so the child is not among the sessions the run ends.
        result = _data(post(people.url, REVOKE_SESSIONS, {"filter": {"ids": [parent_id]}}, ADMIN))

        assert [s["id"] for s in result["revokeSessions"]["ended"]] == [parent_id]
        after = _data(post(people.url, SESSION, {"id": child.global_id}, ADMIN))["session"]
        assert after == {"id": child.global_id, "status": "LOGGED_OUT"}


def test_keeping_a_privx_child_leaves_its_parent_open(people: PeopleStack) -> None:
    person, children = _family_person(people)
    child = children[0]
    parent_id = ids.encode(ids.SESSION, Provider.PRIVX, child.parent_native_id or "")
    variables = {"person": ids.encode_person(person_id(person)), "keep": [child.global_id]}

    result = _data(post(people.url, REVOKE_PERSON, variables, ADMIN))["revokePersonSessions"]

    assert {(f["sessionId"], f["code"]) for f in result["failed"]} >= {
        (parent_id, "PARENT_OF_KEPT")
    }
    still_open = {r.global_id for r in _open(people.sessions(person))}
    assert child.global_id in still_open
    assert parent_id in still_open
    assert child.global_id not in {s["id"] for s in result["ended"]}
