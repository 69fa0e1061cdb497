"""Person: the provider users that are one human, and the ids of people known only by them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.records import Provider

UserKey = tuple[Provider, str]  # (provider, native user id), as app/auth/principal.py spells it

# A person known only by its users has an id made of them, so any replica turns it back into
# them without a store; the map's own ids may not start with this mark.
DERIVED_MARK = "~"
# Users one person may have: the people file's entries, and the users a derived id may carry.
MAX_USERS = 50


@dataclass(frozen=True, slots=True)
class Person:
    """One human: an id (the people file's, or one derived from `users`) and its users."""

    id: str
    users: frozenset[UserKey]

    @classmethod
    def of_users(cls, users: Iterable[UserKey]) -> Person:
        """The person known only by `users` (a token's, or one user no link names)."""
        found = frozenset(users)
        return cls(derived_id(found), found)

    @property
    def derived(self) -> bool:
        """Whether no link source names this person (its id is made of its users)."""
        return self.id.startswith(DERIVED_MARK)

    @property
    def providers(self) -> frozenset[Provider]:
        return frozenset(provider for provider, _ in self.users)

    def users_at(self, provider: Provider) -> frozenset[str]:
        """The native ids of this person's users at `provider`."""
        return frozenset(native for p, native in self.users if p is provider)


def derived_id(users: Iterable[UserKey]) -> str:
    """The id of the person known only by `users`: the same set always gives the same id."""
    pairs = sorted((provider.value, native) for provider, native in users)
    return DERIVED_MARK + json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)


def users_of_derived(person_id: str) -> frozenset[UserKey] | None:
    """The users a derived id names, or None when `person_id` is not a well-formed one."""
    if not person_id.startswith(DERIVED_MARK):
        return None
    try:
        pairs = json.loads(person_id[len(DERIVED_MARK) :])
    except ValueError:
        return None
    if not isinstance(pairs, list) or not 0 < len(pairs) <= MAX_USERS:
        return None
    users: set[UserKey] = set()
    for pair in pairs:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            return None
        try:
            provider = Provider(pair[0])
        except ValueError:
            return None
        if not pair[1]:
            return None
        users.add((provider, pair[1]))
    found = frozenset(users)
    # Only the canonical spelling: one person, one id.
    return found if derived_id(found) == person_id else None
