"""PrivX's own session fields, beside the common record."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.records import Extras


@dataclass(frozen=True, slots=True)
class PrivxExtras(Extras):
    """PrivX fields with no common home."""

    session_type: str
    source_id: str | None
    domain: str | None
    username: str | None
    current: bool | None
    logged_out: bool
