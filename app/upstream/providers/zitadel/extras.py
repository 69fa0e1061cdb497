"""ZITADEL's own session fields as a GraphQL type, one member of the `SessionExtras` union."""

from __future__ import annotations

import strawberry

from app.upstream.providers.zitadel.records import ZitadelExtras


@strawberry.type(description="One HTTP header recorded with the session.")
class Header:
    name: str
    values: list[str]


@strawberry.type(description="ZITADEL: change sequence and the headers recorded at creation.")
class ZitadelSessionExtras:
    sequence: str | None = strawberry.field(description="Change sequence (a uint64, as text).")
    headers: list[Header]

    @classmethod
    def from_record(cls, extras: ZitadelExtras) -> ZitadelSessionExtras:
        return cls(
            sequence=extras.sequence,
            headers=[Header(name=h.name, values=list(h.values)) for h in extras.headers],
        )
