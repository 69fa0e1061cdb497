"""Directory: which person a provider user belongs to, and which users a person has."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.people.person import Person, UserKey, users_of_derived
from app.people.source import LinkSource


class Directory:
    """People from the link sources, first source first; a user no source links is a person of
    its own. Answers are who belongs together, not who may see them: callers scope them."""

    def __init__(self, sources: Sequence[LinkSource] = ()) -> None:
        self._sources = tuple(sources)

    @property
    def sources(self) -> tuple[LinkSource, ...]:
        return self._sources

    async def person(self, person_id: str) -> Person | None:
        """The person with `person_id` (a source's id, or one derived from users), or None."""
        users = users_of_derived(person_id)
        if users is not None:
            return Person(person_id, users)
        for source in self._sources:
            found = await source.person(person_id)
            if found is not None:
                return found
        return None

    async def person_of(self, user: UserKey) -> Person:
        """The person `user` belongs to: a source's, else the person of that user alone."""
        for source in self._sources:
            found = await source.person_of(user)
            if found is not None:
                return found
        return Person.of_users((user,))

    async def users_of(self, person_id: str) -> frozenset[UserKey] | None:
        """The users of the person with `person_id`, or None when there is no such person."""
        person = await self.person(person_id)
        return None if person is None else person.users

    async def person_of_users(self, users: Iterable[UserKey]) -> Person | None:
        """The person a caller's users (a token's claims, an API key's `users`) make up.

        When every one of them is in the same linked person, that person; otherwise a person
        derived from them together with the users of every person they are linked to. None for
        no users (a caller that is not a person).
        """
        own = frozenset(users)
        if not own:
            return None
        linked: dict[str, Person] = {}
        for user in own:
            person = await self.person_of(user)
            if not person.derived:
                linked[person.id] = person
        if len(linked) == 1:
            (person,) = linked.values()
            if own <= person.users:
                return person
        together = set(own)
        for person in linked.values():
            together |= person.users
        return Person.of_users(together)
