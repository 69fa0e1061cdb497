"""Prefactor's own session fields, beside the common record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.records import Extras


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """Prefactor's first/last interaction with a session."""

    at: datetime | None
    remote_ip: str | None
    user_agent: str | None
    asn: int | None = None
    city: str | None = None
    country_code: str | None = None
    region_code: str | None = None
    timezone: str | None = None
    ja4_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class PrefactorExtras(Extras):
    """Prefactor fields with no common home."""

    status: str
    session_type: str | None
    title: str | None
    account_id: str | None
    domain_id: str | None
    pool_id: str | None
    device_id: str | None
    first_seen: InteractionRecord | None
    last_seen: InteractionRecord | None
    can_revoke: bool | None
