"""Prefactor's own session fields as a GraphQL type, one member of the `SessionExtras` union."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.upstream.providers.prefactor.records import InteractionRecord, PrefactorExtras


@strawberry.type(description="Prefactor: one interaction (first or last seen).")
class Interaction:
    at: datetime | None
    remote_ip: str | None
    user_agent: str | None
    asn: int | None
    city: str | None
    country_code: str | None
    region_code: str | None
    timezone: str | None
    ja4_fingerprint: str | None

    @classmethod
    def from_record(cls, record: InteractionRecord | None) -> Interaction | None:
        if record is None:
            return None
        return cls(
            at=record.at,
            remote_ip=record.remote_ip,
            user_agent=record.user_agent,
            asn=record.asn,
            city=record.city,
            country_code=record.country_code,
            region_code=record.region_code,
            timezone=record.timezone,
            ja4_fingerprint=record.ja4_fingerprint,
        )


@strawberry.type(description="Prefactor: pool, device and lifecycle details.")
class PrefactorSessionExtras:
    status: str = strawberry.field(
        description="Prefactor status: new, unauthenticated, authenticated, complete, revoked."
    )
    session_type: str | None = strawberry.field(description="`browser` or `api`.")
    title: str | None
    account_id: str | None
    domain_id: str | None
    pool_id: str | None
    device_id: str | None
    first_seen: Interaction | None
    last_seen: Interaction | None
    can_revoke: bool | None = strawberry.field(
        description="Whether Prefactor allows revoking it; known only when fetched by id."
    )

    @classmethod
    def from_record(cls, extras: PrefactorExtras) -> PrefactorSessionExtras:
        return cls(
            status=extras.status,
            session_type=extras.session_type,
            title=extras.title,
            account_id=extras.account_id,
            domain_id=extras.domain_id,
            pool_id=extras.pool_id,
            device_id=extras.device_id,
            first_seen=Interaction.from_record(extras.first_seen),
            last_seen=Interaction.from_record(extras.last_seen),
            can_revoke=extras.can_revoke,
        )
