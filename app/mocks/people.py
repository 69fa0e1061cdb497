"""The mock world's identity map: each person's users at every provider, as a people file holds.

The demo writes it to GATEWAY_PEOPLE_FILE; tests read the ground truth of a person from it.
"""

from __future__ import annotations

from typing import Any

from app.mocks.data import MockData, Person

# hyper.id knows one user, the one its session cookie logs in, by this id (the adapter's).
HYPERID_USER = "current"


def person_id(person: Person) -> str:
    """The id a person has in the map."""
    return f"p-{person.username}"


def people_map(data: MockData) -> list[dict[str, Any]]:
    """The people file of `data`'s world: every person, with the users each provider knows."""
    entries = []
    for person, identity in zip(data.people, data.kratos_identities, strict=True):
        users = [
            {"provider": "PRIVX", "id": person.privx_user_id},
            *({"provider": "PREFACTOR", "id": i} for i in person.prefactor_identity_ids),
            {"provider": "ZITADEL", "id": person.zitadel_user_id},
            {"provider": "KRATOS", "id": identity["id"]},
        ]
        if person is data.hyperid_user:
            users.append({"provider": "HYPERID", "id": HYPERID_USER})
        entries.append({"id": person_id(person), "users": users})
    return entries
