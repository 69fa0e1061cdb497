"""Ory Kratos's own session fields, beside the common record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.records import Extras


@dataclass(frozen=True, slots=True)
class KratosMethodRecord:
    """One entry of a Kratos session's `authentication_methods`."""

    method: str
    aal: str | None
    completed_at: datetime | None
    provider: str | None = None  # OIDC or SAML provider id
    organization: str | None = None


@dataclass(frozen=True, slots=True)
class KratosDeviceRecord:
    """One entry of a Kratos session's `devices`: where the session was used."""

    native_id: str
    ip_address: str | None
    user_agent: str | None
    location: str | None  # "City, CC" from Cloudflare headers on Ory Network


@dataclass(frozen=True, slots=True)
class KratosExtras(Extras):
    """Ory Kratos fields with no common home."""

    active: bool | None  # as Kratos reported it: false also for expired sessions
    aal: str | None
    authenticated_at: datetime | None
    methods: tuple[KratosMethodRecord, ...]
    devices: tuple[KratosDeviceRecord, ...]
    identity_state: str | None
    schema_id: str | None
