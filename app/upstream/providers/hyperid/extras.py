"""hyper.id's own session fields as a GraphQL type, one member of the `SessionExtras` union."""

from __future__ import annotations

import strawberry

from app.upstream.providers.hyperid.records import HyperIdExtras


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

    @classmethod
    def from_record(cls, extras: HyperIdExtras) -> HyperIdSessionExtras:
        return cls(
            host_name=extras.host_name,
            identity_provider_id=extras.identity_provider_id,
            restrict_to_site_id=extras.restrict_to_site_id,
            protection_level=extras.protection_level,
            require_confirmation=extras.require_confirmation,
            is_one_shot=extras.is_one_shot,
            device_type_code=extras.device_type_code,
            os_type_code=extras.os_type_code,
        )
