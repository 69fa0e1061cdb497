"""hyper.id's own session fields, beside the common record."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.records import Extras


@dataclass(frozen=True, slots=True)
class HyperIdExtras(Extras):
    """hyper.id fields with no common home; the numeric codes' meanings are undocumented."""

    host_name: str | None
    identity_provider_id: int | None
    restrict_to_site_id: str | None
    protection_level: int | None
    require_confirmation: bool | None
    is_one_shot: bool | None
    device_type_code: int | None
    os_type_code: int | None
