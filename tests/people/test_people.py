"""People: the identity map file, its reloads, token-derived people and the directory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import ConfigError
from app.core.records import Provider
from app.people import Directory, PeopleFile, Person, derived_id, users_of_derived

Z, K, P = Provider.ZITADEL, Provider.KRATOS, Provider.PRIVX

PEOPLE = [
    {
        "id": "p-1042",
        "users": [{"provider": "ZITADEL", "id": "2683"}, {"provider": "KRATOS", "id": "6562"}],
    },
    {"id": "p-7", "users": [{"provider": "PRIVX", "id": "u-7"}]},
]


def _write(path: Path, people: Any) -> None:
    text = people if isinstance(people, str) else json.dumps(people)
    path.write_text(text)
    # Another size or time than the last write, whatever the file system's clock resolution.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def people_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.json"
    _write(path, PEOPLE)
    return path


async def test_the_directory_answers_both_ways(people_file: Path) -> None:
    directory = Directory([PeopleFile(str(people_file))])
    person = await directory.person_of((K, "6562"))
    assert person == Person("p-1042", frozenset({(Z, "2683"), (K, "6562")}))
    assert await directory.users_of("p-1042") == person.users
    assert await directory.person("p-404") is None
    # A user no source links is a person of its own, found again by its derived id.
    alone = await directory.person_of((P, "nobody"))
    assert alone.derived
    assert alone.users == {(P, "nobody")}
    assert await directory.person(alone.id) == alone


async def test_a_tokens_users_make_the_linked_person_or_a_derived_one(people_file: Path) -> None:
    directory = Directory([PeopleFile(str(people_file))])
    assert await directory.person_of_users([]) is None
    linked = await directory.person_of_users([(Z, "2683")])
    assert linked is not None
    assert linked.id == "p-1042"
    # Users across two people, or beyond the map: one person of all of them, id from them.
    both = await directory.person_of_users([(Z, "2683"), (P, "u-7")])
    assert both is not None
    assert both.derived
    assert both.users == {(Z, "2683"), (K, "6562"), (P, "u-7")}
    token_only = await directory.person_of_users([(P, "a"), (Z, "b")])
    assert token_only == Person.of_users([(Z, "b"), (P, "a")])  # order does not matter


def test_derived_ids_round_trip_and_refuse_other_spellings() -> None:
    users = frozenset({(Z, "a,b"), (K, "ü")})
    assert users_of_derived(derived_id(users)) == users
    assert users_of_derived("p-1042") is None
    assert users_of_derived("~not json") is None
    assert users_of_derived('~[["NOPE","x"]]') is None
    assert users_of_derived('~[["ZITADEL",""]]') is None
    assert users_of_derived('~[ ["ZITADEL","x"] ]') is None  # one person, one id
    assert users_of_derived("~[]") is None


@pytest.mark.parametrize(
    ("people", "message"),
    [
        ("[", "not valid JSON"),
        ({"id": "x"}, "must be a JSON list"),
        ([{"users": []}], "[0]: needs a non-empty string `id`"),
        ([{"id": "~x", "users": [{"provider": "KRATOS", "id": "1"}]}], "may not start with"),
        ([{"id": "p-1", "users": []}], "[0] ('p-1'): needs a non-empty list `users`"),
        ([{"id": "p-1", "users": [{"provider": "NOPE", "id": "1"}]}], "users[0] must be"),
        ([{"id": "p-1", "users": [{"provider": "KRATOS", "id": " "}]}], "users[0].id is empty"),
        (
            [PEOPLE[0], {"id": "p-2", "users": [{"provider": "KRATOS", "id": "6562"}]}],
            "[1] ('p-2'): user KRATOS '6562' is already in person 'p-1042'",
        ),
        ([PEOPLE[1], PEOPLE[1]], "[1] ('p-7'): the id is already used"),
    ],
)
def test_a_malformed_file_is_refused_at_start_up_naming_the_entry(
    tmp_path: Path, people: Any, message: str
) -> None:
    path = tmp_path / "people.json"
    _write(path, people)
    with pytest.raises(ConfigError, match="GATEWAY_PEOPLE_FILE") as caught:
        PeopleFile(str(path))
    assert message in str(caught.value)


def test_a_missing_file_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_PEOPLE_FILE: cannot read"):
        PeopleFile(str(tmp_path / "absent.json"))


async def test_a_changed_file_is_read_again_and_a_bad_one_keeps_the_map(
    people_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[None] = []
    source = PeopleFile(
        str(people_file), check_every=0, on_reload_error=lambda: failures.append(None)
    )
    _write(people_file, [{"id": "p-8", "users": [{"provider": "PRIVX", "id": "u-7"}]}])
    assert (await source.person_of((P, "u-7"))) == Person("p-8", frozenset({(P, "u-7")}))
    assert await source.person("p-1042") is None

    with caplog.at_level(logging.ERROR, logger="session_gateway.people"):
        _write(people_file, [{"id": "p-9", "users": "nobody"}])
        assert (await source.person("p-8")) is not None  # the previous map stays
        assert (await source.person("p-8")) is not None  # and the bad file is reported once
        await asyncio.to_thread(people_file.unlink)
        assert (await source.person("p-8")) is not None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "[0] ('p-9'): needs a non-empty list `users`" in errors[0]
    assert "keeping the 1 people loaded before" in errors[0]
    assert "cannot read" in errors[1]
    assert len(failures) == 2

    _write(people_file, PEOPLE)
    assert (await source.person("p-1042")) is not None
