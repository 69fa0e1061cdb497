"""People: the provider users that are one human, from link sources and the caller's token.

The public API is what `__all__` lists; the schema (`Person`, `viewer`) and anything
computed over a person's sessions build on it.
"""

from __future__ import annotations

from app.people.directory import Directory
from app.people.file import PeopleFile, PeopleMap
from app.people.person import MAX_USERS, Person, UserKey, derived_id, users_of_derived
from app.people.source import LinkSource

__all__ = [
    "MAX_USERS",
    "Directory",
    "LinkSource",
    "PeopleFile",
    "PeopleMap",
    "Person",
    "UserKey",
    "derived_id",
    "users_of_derived",
]
