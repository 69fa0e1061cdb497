"""Ory Kratos's own session fields as a GraphQL type, one member of the `SessionExtras` union."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.upstream.providers.kratos.records import KratosExtras


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

    @classmethod
    def from_record(cls, extras: KratosExtras) -> KratosSessionExtras:
        return cls(
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
