"""ZITADEL's own session fields, beside the common record."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.records import Extras


@dataclass(frozen=True, slots=True)
class HeaderRecord:
    """One HTTP header the client sent when ZITADEL created the session."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZitadelExtras(Extras):
    """ZITADEL fields with no common home."""

    sequence: str | None
    headers: tuple[HeaderRecord, ...]
