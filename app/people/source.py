"""LinkSource: where links between provider users and people come from (a file, a directory)."""

from __future__ import annotations

from typing import Protocol

from app.people.person import Person, UserKey


class LinkSource(Protocol):
    """A source of people: each provider user belongs to at most one of its people.

    A directory (SCIM, LDAP) is one module implementing this. Lookups may do I/O; a source that
    cannot answer returns what it knew last rather than raising.
    """

    @property
    def name(self) -> str:
        """A short name for logs and metrics (`file`, `scim`)."""
        ...

    async def person(self, person_id: str) -> Person | None:
        """The person with `person_id`, or None when this source has none."""
        ...

    async def person_of(self, user: UserKey) -> Person | None:
        """The person `user` belongs to, or None when this source links it to nobody."""
        ...
