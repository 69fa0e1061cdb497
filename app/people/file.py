"""PeopleFile: the identity map an operator keeps (GATEWAY_PEOPLE_FILE), re-read when it changes.

The file is a JSON list of `{"id": "p-1042", "users": [{"provider": "ZITADEL", "id": "…"}]}`.
At start-up a malformed file stops the gateway naming the entry; later, a file that no longer
reads or parses keeps the map loaded before, says why in one ERROR line and counts a failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from app.core.errors import ConfigError
from app.core.records import Provider
from app.people.person import DERIVED_MARK, MAX_USERS, Person, UserKey

# Lookups look at the file at most this often.
CHECK_EVERY = 1.0
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_ID_CHARS = 200
SETTING = "GATEWAY_PEOPLE_FILE"

log = logging.getLogger("session_gateway.people")

# A replaced file (a Secret's symlink swap) has another inode; an edited one another size or
# modification time.
_Signature = tuple[int, int, int, int]


class PeopleMap:
    """People by id and by user, parsed from the file's JSON; each user in one person only."""

    __slots__ = ("by_id", "by_user")

    def __init__(self, people: Mapping[str, Person]) -> None:
        self.by_id: dict[str, Person] = dict(people)
        self.by_user: dict[UserKey, Person] = {
            user: person for person in people.values() for user in person.users
        }

    @classmethod
    def parse(cls, content: str | bytes) -> PeopleMap:
        """The map in `content`, or ConfigError naming the first bad entry and what is wrong."""
        if len(content) > MAX_FILE_BYTES:
            raise ConfigError(f"{SETTING}: larger than {MAX_FILE_BYTES} bytes")
        try:
            raw = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{SETTING}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except ValueError:  # not UTF-8
            raise ConfigError(f"{SETTING}: not valid JSON text") from None
        if not isinstance(raw, list):
            raise ConfigError(f"{SETTING}: must be a JSON list of people")
        people: dict[str, Person] = {}
        owner: dict[UserKey, str] = {}
        for index, item in enumerate(raw):
            person = _person(item, index)
            where = f"{SETTING}: [{index}] ({person.id!r})"
            if person.id in people:
                raise ConfigError(f"{where}: the id is already used by an earlier person")
            for user in sorted(person.users, key=lambda u: (u[0].value, u[1])):
                if user in owner:
                    raise ConfigError(
                        f"{where}: user {user[0].value} {user[1]!r} is already in person "
                        f"{owner[user]!r}; a provider user belongs to one person"
                    )
                owner[user] = person.id
            people[person.id] = person
        return cls(people)


def _person(item: Any, index: int) -> Person:
    where = f"{SETTING}: [{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f'{where}: must be an object {{"id": "...", "users": [...]}}')
    person_id = item.get("id")
    if not isinstance(person_id, str) or not person_id.strip():
        raise ConfigError(f"{where}: needs a non-empty string `id`")
    person_id = person_id.strip()
    if len(person_id) > MAX_ID_CHARS:
        raise ConfigError(f"{where}: `id` is longer than {MAX_ID_CHARS} characters")
    if person_id.startswith(DERIVED_MARK):
        raise ConfigError(f"{where}: `id` may not start with {DERIVED_MARK!r}")
    where = f"{where} ({person_id!r})"
    users = item.get("users")
    if not isinstance(users, list) or not users:
        raise ConfigError(f"{where}: needs a non-empty list `users`")
    if len(users) > MAX_USERS:
        raise ConfigError(f"{where}: has more than {MAX_USERS} users")
    found: set[UserKey] = set()
    for position, user in enumerate(users):
        try:
            provider, native_id = Provider(user["provider"]), user["id"]
        except (KeyError, TypeError, ValueError):
            names = ", ".join(p.value for p in Provider)
            raise ConfigError(
                f'{where}: users[{position}] must be {{"provider": "<{names}>", "id": "..."}}'
            ) from None
        if isinstance(native_id, bool) or not isinstance(native_id, str | int):
            raise ConfigError(f"{where}: users[{position}].id must be a string")
        native_id = str(native_id).strip()
        if not native_id:
            raise ConfigError(f"{where}: users[{position}].id is empty")
        found.add((provider, native_id))
    return Person(person_id, frozenset(found))


class PeopleFile:
    """The LinkSource of GATEWAY_PEOPLE_FILE: loaded at start-up, kept up to date."""

    name = "file"

    def __init__(
        self,
        path: str,
        *,
        check_every: float = CHECK_EVERY,
        on_reload_error: Callable[[], None] | None = None,
    ) -> None:
        """Read `path` now; ConfigError (naming the entry) when it is unreadable or malformed.

        `on_reload_error` is called once per failed re-read (a metric counts them).
        """
        self._path = path
        self._check_every = check_every
        self._on_reload_error = on_reload_error
        self._signature: _Signature | None
        try:
            self._signature, content = _read(path)
        except OSError as exc:
            raise ConfigError(f"{SETTING}: cannot read {path} ({exc.strerror})") from None
        self._map = PeopleMap.parse(content)
        self._next_check = time.monotonic() + check_every
        self._lock = asyncio.Lock()

    @property
    def people(self) -> Mapping[str, Person]:
        """The people loaded now, by id."""
        return self._map.by_id

    async def person(self, person_id: str) -> Person | None:
        await self.refresh()
        return self._map.by_id.get(person_id)

    async def person_of(self, user: UserKey) -> Person | None:
        await self.refresh()
        return self._map.by_user.get(user)

    async def refresh(self, *, fresh: bool = False) -> None:
        """Re-read the file if it changed: now if `fresh`, else at most every `check_every`."""
        if not fresh and time.monotonic() < self._next_check:
            return
        async with self._lock:
            self._next_check = time.monotonic() + self._check_every
            try:
                changed = _signature(os.stat(self._path)) != self._signature
            except OSError:
                changed = self._signature is not None  # gone: say so once, keep the map
            if changed:
                await self._reload()

    async def _reload(self) -> None:
        kept = len(self._map.by_id)
        try:
            signature, content = await asyncio.to_thread(_read, self._path)
        except OSError as exc:
            self._signature = None
            self._failed(f"{SETTING}: cannot read {self._path} ({exc.strerror})", kept)
            return
        self._signature = signature  # a bad file is reported once, not at every check
        try:
            parsed = PeopleMap.parse(content)
        except ConfigError as exc:
            self._failed(str(exc), kept)
            return
        self._map = parsed
        log.info("%s %s changed: %d people now.", SETTING, self._path, len(parsed.by_id))

    def _failed(self, why: str, kept: int) -> None:
        log.error("%s; keeping the %d people loaded before.", why, kept)
        if self._on_reload_error is not None:
            self._on_reload_error()


def _signature(stat: os.stat_result) -> _Signature:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _read(path: str) -> tuple[_Signature, bytes]:
    """The file's signature and content, from one open file (so they belong together)."""
    with open(path, "rb") as handle:
        signature = _signature(os.fstat(handle.fileno()))
        return signature, handle.read(MAX_FILE_BYTES + 1)
