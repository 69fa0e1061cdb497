"""People over real HTTP: `viewer`, `person`, `SessionUser.person`, `Session.current`, scoping.

The gateway runs against the mocks with the world's people file and checks caller JWTs signed
for a JWKS; expectations are read from the mocks' data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks.kratos import session_token
from app.mocks.people import person_id
from tests.support.live import post, send
from tests.support.people import (
    NOBODY_KEY,
    READER_KEY,
    PeopleStack,
    active_person,
    bearer,
    people_stack,
)

pytestmark = pytest.mark.server

VIEWER = """
query Viewer {
  viewer {
    person { id users { provider nativeId } }
    currentSession { id provider current }
    sessions(first: 100) { totalCount nodes { id provider current status } }
  }
}
"""
PERSON = """
query Person($id: ID, $user: ProviderUserInput) {
  person(id: $id, user: $user) {
    id
    users { provider nativeId }
    sessions(first: 100) { totalCount }
  }
}
"""


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeopleStack]:
    with people_stack(tmp_path_factory.mktemp("people")) as stack:
        yield stack


def _data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def test_the_viewers_sessions_are_the_persons_at_every_provider(people: PeopleStack) -> None:
    person, current = active_person(people)
    token = people.token(person, current)

    viewer = _data(post(people.url, VIEWER, headers=bearer(token)))["viewer"]

    truth = people.sessions(person)
    assert len({r.provider for r in truth}) >= 3
    listed = viewer["sessions"]["nodes"]
    assert [n["id"] for n in listed] == [r.global_id for r in truth]
    assert viewer["sessions"]["totalCount"] == len(truth)
    assert [n["id"] for n in listed if n["current"]] == [current.global_id]
    assert viewer["currentSession"] == {
        "id": current.global_id,
        "provider": "ZITADEL",
        "current": True,
    }
    assert viewer["person"]["id"] == ids.encode_person(person_id(person))
    assert {(u["provider"], u["nativeId"]) for u in viewer["person"]["users"]} == {
        (p.value, n) for p, n in people.users(person)
    }


def test_the_people_file_never_widens_what_a_token_sees(people: PeopleStack) -> None:
    person, current = active_person(people)
    token = people.token(person, current, only=Provider.ZITADEL)

    viewer = _data(post(people.url, VIEWER, headers=bearer(token)))["viewer"]

    # Its person is the linked one, seen through the token's own users only.
    assert viewer["person"]["id"] == ids.encode_person(person_id(person))
    assert viewer["person"]["users"] == [
        {"provider": "ZITADEL", "nativeId": person.zitadel_user_id}
    ]
    truth = [r.global_id for r in people.sessions(person) if r.provider is Provider.ZITADEL]
    assert [n["id"] for n in viewer["sessions"]["nodes"]] == truth


def test_a_reader_of_all_sees_a_person_whole_by_id_or_by_user(people: PeopleStack) -> None:
    person, _ = active_person(people)
    global_id = ids.encode_person(person_id(person))
    headers = {"X-API-Key": READER_KEY}
    users = people.users(person)
    kratos = next(n for p, n in users if p is Provider.KRATOS)

    by_id = _data(post(people.url, PERSON, {"id": global_id}, headers))["person"]
    by_user = _data(
        post(people.url, PERSON, {"user": {"provider": "KRATOS", "nativeId": kratos}}, headers)
    )["person"]

    assert by_id == by_user
    assert by_id["id"] == global_id
    assert {(u["provider"], u["nativeId"]) for u in by_id["users"]} == {
        (p.value, n) for p, n in users
    }
    assert by_id["sessions"]["totalCount"] == len(people.sessions(person))
    node = _data(
        post(people.url, "query($id: ID!) { node(id: $id) { id } }", {"id": global_id}, headers)
    )
    assert node["node"] == {"id": global_id}


def test_a_user_nothing_links_is_a_person_of_its_own(people: PeopleStack) -> None:
    headers = {"X-API-Key": READER_KEY}
    user = {"provider": "PRIVX", "nativeId": "nobody-links-this-user"}
    alone = _data(post(people.url, PERSON, {"user": user}, headers))["person"]
    assert alone["users"] == [user]
    assert alone["sessions"]["totalCount"] == 0
    again = _data(post(people.url, PERSON, {"id": alone["id"]}, headers))["person"]
    assert again == alone


def test_bad_person_arguments_get_coded_errors_and_unknown_ids_null(people: PeopleStack) -> None:
    headers = {"X-API-Key": READER_KEY}
    for variables in ({}, {"id": "x", "user": {"provider": "PRIVX", "nativeId": "1"}}):
        body = post(people.url, PERSON, variables, headers)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "exactly one of `id` and `user`" in body["errors"][0]["message"]
    session_id = ids.encode(ids.SESSION, Provider.PRIVX, "s-1")
    body = post(people.url, PERSON, {"id": session_id}, headers)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    unknown = ids.encode_person("p-nobody")
    assert _data(post(people.url, PERSON, {"id": unknown}, headers))["person"] is None


def test_a_caller_that_is_not_a_person_has_no_viewer(people: PeopleStack) -> None:
    body = post(people.url, "{ viewer { person { id } } }", headers={"X-API-Key": NOBODY_KEY})
    assert _data(body)["viewer"] is None


def test_a_scoped_caller_reaches_no_other_person_by_any_field(people: PeopleStack) -> None:
    person, current = active_person(people)
    other = next(p for p in people.data.people if p is not person)
    headers = bearer(people.token(person, current, only=Provider.ZITADEL))
    other_users = people.users(other)
    other_kratos = next(n for p, n in other_users if p is Provider.KRATOS)
    own_kratos = next(n for p, n in people.users(person) if p is Provider.KRATOS)

    by_id = post(people.url, PERSON, {"id": ids.encode_person(person_id(other))}, headers)
    by_user = post(
        people.url, PERSON, {"user": {"provider": "KRATOS", "nativeId": other_kratos}}, headers
    )
    # Not even its own person's other users: the people file never widens what it sees.
    linked = post(
        people.url, PERSON, {"user": {"provider": "KRATOS", "nativeId": own_kratos}}, headers
    )
    by_node = post(
        people.url,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": ids.encode_person(person_id(other))},
        headers,
    )
    user_id = ids.encode(ids.USER, Provider.KRATOS, other_kratos)
    via_user = post(
        people.url,
        "query($id: ID!) { node(id: $id) { ... on SessionUser { person { id } } } }",
        {"id": user_id},
        headers,
    )
    assert _data(by_id)["person"] is None
    assert _data(by_user)["person"] is None
    assert _data(linked)["person"] is None
    assert _data(by_node)["node"] is None
    assert _data(via_user)["node"] is None
    # Its own sessions' users lead back to its own person.
    own = _data(
        post(
            people.url,
            "{ viewer { person { id } sessions(first: 5) { nodes { user { person { id } } } } } }",
            headers=headers,
        )
    )["viewer"]
    assert {n["user"]["person"]["id"] for n in own["sessions"]["nodes"]} == {own["person"]["id"]}
    # Its own person by its own user.
    mine = {"provider": "ZITADEL", "nativeId": person.zitadel_user_id}
    assert (
        _data(post(people.url, PERSON, {"user": mine}, headers))["person"]["id"]
        == (own["person"]["id"])
    )


def test_without_a_session_claim_no_session_is_current(people: PeopleStack) -> None:
    person, _ = active_person(people)
    viewer = _data(post(people.url, VIEWER, headers=bearer(people.token(person))))["viewer"]
    assert viewer["sessions"]["totalCount"] == len(people.sessions(person))
    assert viewer["currentSession"] is None
    assert not any(n["current"] for n in viewer["sessions"]["nodes"])


def test_a_session_claim_naming_anothers_session_marks_nothing_visible(
    people: PeopleStack,
) -> None:
    person, _ = active_person(people)
    theirs = next(
        r
        for someone in people.data.people
        if someone is not person
        for r in people.sessions(someone)
        if r.provider is Provider.ZITADEL
    )
    status, body = send(people.url, VIEWER, headers=bearer(people.token(person, theirs)))
    assert status == 200
    assert _data(body)["viewer"]["currentSession"] is None


def test_people_file_is_refused_at_start_up_when_malformed(tmp_path: Path) -> None:
    (tmp_path / "people.json").write_text('[{"id": "p-1", "users": []}]')
    from app.core.errors import ConfigError
    from app.main import create_app
    from app.settings import Settings

    settings = Settings.from_environ(
        {"GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_PEOPLE_FILE": str(tmp_path / "people.json")}
    )
    with pytest.raises(ConfigError, match=r"\[0\] \('p-1'\): needs a non-empty list `users`"):
        create_app(settings)


def test_a_forwarded_kratos_session_token_marks_that_session_current(
    people: PeopleStack,
) -> None:
    person, zitadel = active_person(people)
    kratos = next(
        r
        for r in people.sessions(person)
        if r.provider is Provider.KRATOS and r.status.value == "ACTIVE"
    )
    headers = {
        **bearer(people.token(person, zitadel)),
        "X-Session-Token": session_token(kratos.native_id),
    }
    people.live.reset_calls()

    viewer = _data(post(people.url, VIEWER, headers=headers))["viewer"]

    current = sorted(n["id"] for n in viewer["sessions"]["nodes"] if n["current"])
    assert current == sorted([zitadel.global_id, kratos.global_id])
    whoami = [c for c in people.live.calls("KRATOS") if c.path == "/sessions/whoami"]
    assert len(whoami) == 1  # once per request, however many sessions ask
    # A token Kratos does not know: nothing of Kratos is current, and no error.
    headers["X-Session-Token"] = "ory_st_unknown"
    body = post(people.url, VIEWER, headers=headers)
    viewer = _data(body)["viewer"]
    assert [n["id"] for n in viewer["sessions"]["nodes"] if n["current"]] == [zitadel.global_id]
