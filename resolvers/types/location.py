"""The Location type: where a session's address is, from the configured GeoIP databases."""

from __future__ import annotations

import strawberry

from app.core.records import SessionRecord
from app.geo import Location as LocationRecord
from app.geo import Locator


@strawberry.type(
    description="Where an address is, from the operator's MaxMind-format databases "
    "(GATEWAY_GEOIP_CITY_DB, GATEWAY_GEOIP_ASN_DB); approximate, and any part may be null."
)
class Location:
    record: strawberry.Private[LocationRecord]

    @strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")
    def country_code(self) -> str | None:
        return self.record.country_code

    @strawberry.field(description="The country's English name.")
    def country(self) -> str | None:
        return self.record.country

    @strawberry.field(description="The first subdivision (state, province, region).")
    def region(self) -> str | None:
        return self.record.region

    @strawberry.field
    def city(self) -> str | None:
        return self.record.city

    @strawberry.field
    def latitude(self) -> float | None:
        return self.record.latitude

    @strawberry.field
    def longitude(self) -> float | None:
        return self.record.longitude

    @strawberry.field(description="How far off the coordinates may be, in kilometres.")
    def accuracy_radius_km(self) -> int | None:
        return self.record.accuracy_radius_km

    @strawberry.field(description="The autonomous system (network operator) number.")
    def asn(self) -> int | None:
        return self.record.asn

    @strawberry.field(description="The autonomous system's organisation.")
    def as_organization(self) -> str | None:
        return self.record.as_organization


def location_of(locator: Locator, record: SessionRecord) -> Location | None:
    found = locator.of_session(record)
    return Location(record=found) if found is not None else None
