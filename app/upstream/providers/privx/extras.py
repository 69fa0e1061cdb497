"""PrivX's own session fields as a GraphQL type, one member of the `SessionExtras` union."""

from __future__ import annotations

import strawberry

from app.upstream.providers.privx.records import PrivxExtras


@strawberry.type(description="PrivX: login, SSO or child session details.")
class PrivxSessionExtras:
    session_type: str = strawberry.field(description="`login`, `sso` or `child`.")
    source_id: str | None = strawberry.field(description="The user source (directory/IdP).")
    domain: str | None
    username: str | None
    current: bool | None = strawberry.field(
        description="Whether this is the session of the gateway's own PrivX token."
    )
    logged_out: bool

    @classmethod
    def from_record(cls, extras: PrivxExtras) -> PrivxSessionExtras:
        return cls(
            session_type=extras.session_type,
            source_id=extras.source_id,
            domain=extras.domain,
            username=extras.username,
            current=extras.current,
            logged_out=extras.logged_out,
        )
