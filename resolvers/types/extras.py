"""Typed provider-specific session fields that have no common home."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.core.records import (
    Extras,
    HeaderRecord,
    HyperIdExtras,
    InteractionRecord,
    KratosExtras,
    PrefactorExtras,
    PrivxExtras,
    ZitadelExtras,
)


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


@strawberry.type(description="One HTTP header recorded with the session.")
class Header:
    name: str
    values: list[str]


@strawberry.type(description="ZITADEL: change sequence and the headers recorded at creation.")
class ZitadelSessionExtras:
    sequence: str | None = strawberry.field(description="Change sequence (a uint64, as text).")
    headers: list[Header]


@strawberry.type(description="hyper.id: host, protection and raw device codes.")
class HyperIdSessionExtras:
    host_name: str | None
    identity_provider_id: int | None
    restrict_to_site_id: str | None
    protection_level: int | None
    require_confirmation: bool | None
    is_one_shot: bool | None
    device_type_code: int | None = strawberry.field(description="Undocumented upstream code.")
    os_type_code: int | None = strawberry.field(description="Undocumented upstream code.")


@strawberry.type(description="Ory Kratos: one authentication method the session used.")
class KratosMethod:
    method: str = strawberry.field(description="e.g. `password`, `webauthn`, `oidc`, `code`.")
    aal: str | None = strawberry.field(description="Authenticator assurance level, `aal1`...")
    completed_at: datetime | None
    provider: str | None = strawberry.field(description="The OIDC or SAML provider id.")
    organization: str | None


@strawberry.type(description="Ory Kratos: a device the session was used from.")
class KratosDevice:
    native_id: str
    ip_address: str | None
    user_agent: str | None
    location: str | None = strawberry.field(description="`City, CC` where Ory Network knows it.")


@strawberry.type(description="Ory Kratos: assurance level, methods, devices and identity state.")
class KratosSessionExtras:
    active: bool | None = strawberry.field(
        description="As Kratos reports it: false also for expired sessions."
    )
    aal: str | None = strawberry.field(description="Authenticator assurance level reached.")
    authenticated_at: datetime | None
    methods: list[KratosMethod]
    devices: list[KratosDevice]
    identity_state: str | None = strawberry.field(description="`active` or `inactive`.")
    schema_id: str | None = strawberry.field(description="The identity's schema.")


SessionExtras = Annotated[
    PrivxSessionExtras
    | PrefactorSessionExtras
    | ZitadelSessionExtras
    | HyperIdSessionExtras
    | KratosSessionExtras,
    strawberry.union("SessionExtras", description="Provider-specific session fields."),
]


def _interaction(record: InteractionRecord | None) -> Interaction | None:
    if record is None:
        return None
    return Interaction(
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


def _header(record: HeaderRecord) -> Header:
    return Header(name=record.name, values=list(record.values))


def extras_from_record(
    extras: Extras,
) -> (
    PrivxSessionExtras
    | PrefactorSessionExtras
    | ZitadelSessionExtras
    | HyperIdSessionExtras
    | KratosSessionExtras
):
    """The GraphQL object for a record's provider-specific part."""
    match extras:
        case PrivxExtras():
            return PrivxSessionExtras(
                session_type=extras.session_type,
                source_id=extras.source_id,
                domain=extras.domain,
                username=extras.username,
                current=extras.current,
                logged_out=extras.logged_out,
            )
        case PrefactorExtras():
            return PrefactorSessionExtras(
                status=extras.status,
                session_type=extras.session_type,
                title=extras.title,
                account_id=extras.account_id,
                domain_id=extras.domain_id,
                pool_id=extras.pool_id,
                device_id=extras.device_id,
                first_seen=_interaction(extras.first_seen),
                last_seen=_interaction(extras.last_seen),
                can_revoke=extras.can_revoke,
            )
        case ZitadelExtras():
            return ZitadelSessionExtras(
                sequence=extras.sequence, headers=[_header(h) for h in extras.headers]
            )
        case HyperIdExtras():
            return HyperIdSessionExtras(
                host_name=extras.host_name,
                identity_provider_id=extras.identity_provider_id,
                restrict_to_site_id=extras.restrict_to_site_id,
                protection_level=extras.protection_level,
                require_confirmation=extras.require_confirmation,
                is_one_shot=extras.is_one_shot,
                device_type_code=extras.device_type_code,
                os_type_code=extras.os_type_code,
            )
        case KratosExtras():
            return KratosSessionExtras(
                active=extras.active,
                aal=extras.aal,
                authenticated_at=extras.authenticated_at,
                methods=[
                    KratosMethod(
                        method=m.method,
                        aal=m.aal,
                        completed_at=m.completed_at,
                        provider=m.provider,
                        organization=m.organization,
                    )
                    for m in extras.methods
                ],
                devices=[
                    KratosDevice(
                        native_id=d.native_id,
                        ip_address=d.ip_address,
                        user_agent=d.user_agent,
                        location=d.location,
                    )
                    for d in extras.devices
                ],
                identity_state=extras.identity_state,
                schema_id=extras.schema_id,
            )
