"""Location: where an address is, as far as the configured databases tell."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


@dataclass(frozen=True, slots=True)
class Location:
    """A place and a network; any part may be unknown."""

    country_code: str | None = None  # ISO 3166-1 alpha-2, upper case
    country: str | None = None
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: int | None = None
    asn: int | None = None
    as_organization: str | None = None

    @property
    def place(self) -> str:
        """The city (else region) and country code, for messages."""
        parts = [p for p in (self.city, self.region if not self.city else None) if p]
        if self.country_code:
            parts.append(self.country_code)
        return ", ".join(parts) or "an unknown place"


def distance_km(a: Location, b: Location) -> float | None:
    """Great-circle distance between two located places (haversine); None without coordinates."""
    if a.latitude is None or a.longitude is None or b.latitude is None or b.longitude is None:
        return None
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat = (lat2 - lat1) / 2
    half_dlon = math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
