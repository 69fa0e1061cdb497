"""The Location type: where a session's address is, from the configured GeoIP databases."""

from __future__ import annotations

import functools

import strawberry

from app.core.records import SessionRecord
from app.geo import Location as LocationRecord
from app.geo import Locator


# Plain fields, not resolvers: a page of 100 sessions reads nine of them each, and the fast path
# reads plain fields directly (resolvers/engine/plan.py).
@strawberry.type(
    description="Where an address is, from the operator's MaxMind-format databases "
    "(GATEWAY_GEOIP_CITY_DB, GATEWAY_GEOIP_ASN_DB); approximate, and any part may be null."
)
class Location:
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")
    country: str | None = strawberry.field(description="The country's English name.")
    region: str | None = strawberry.field(
        description="The first subdivision (state, province, region)."
    )
    city: str | None
    latitude: float | None
    longitude: float | None
    accuracy_radius_km: int | None = strawberry.field(
        description="How far off the coordinates may be, in kilometres."
    )
    asn: int | None = strawberry.field(
        description="The autonomous system (network operator) number."
    )
    as_organization: str | None = strawberry.field(
        description="The autonomous system's organisation."
    )

    @classmethod
    def of(cls, record: LocationRecord) -> Location:
        return cls(
            country_code=record.country_code,
            country=record.country,
            region=record.region,
            city=record.city,
            latitude=record.latitude,
            longitude=record.longitude,
            accuracy_radius_km=record.accuracy_radius_km,
            asn=record.asn,
            as_organization=record.as_organization,
        )


# One object per place (never changed once made): a page repeats few places many times.
@functools.lru_cache(maxsize=4096)
def shown(record: LocationRecord) -> Location:
    return Location.of(record)


def location_of(locator: Locator, record: SessionRecord) -> Location | None:
    found = locator.of_session(record)
    return shown(found) if found is not None else None
