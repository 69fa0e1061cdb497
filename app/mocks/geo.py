"""Small MaxMind-format City and ASN databases, written from a list of places (no download).

The demo writes them for its own world at start-up, so GraphiQL shows places: the mock
upstreams hand out addresses from the documentation ranges (RFC 5737, RFC 3849), and these
databases place each of those networks somewhere on Earth with a documentation ASN (RFC 5398).
Tests write their own with `write_databases`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
from netaddr import IPSet


@dataclass(frozen=True, slots=True)
class Place:
    """One network's place and operator, as a City and an ASN database would hold them."""

    network: str  # CIDR
    country_code: str
    country: str
    region: str
    city: str
    latitude: float
    longitude: float
    accuracy_radius_km: int
    asn: int
    as_organization: str


# The demo world: the office network, home and mobile networks on three continents.
DEMO_PLACES = (
    Place("198.51.100.0/24", "FI", "Finland", "Uusimaa", "Helsinki", 60.1699, 24.9384, 5,
          64500, "Example Office Networks"),
    Place("203.0.113.0/25", "DE", "Germany", "Berlin", "Berlin", 52.52, 13.405, 20,
          64501, "Example Broadband GmbH"),
    Place("203.0.113.128/25", "US", "United States", "New York", "New York", 40.7128,
          -74.006, 20, 64502, "Example Mobile Inc."),
    Place("192.0.2.0/25", "GB", "United Kingdom", "England", "London", 51.5074, -0.1278, 10,
          64503, "Example Fibre Ltd"),
    Place("192.0.2.128/25", "AU", "Australia", "New South Wales", "Sydney", -33.8688,
          151.2093, 50, 64504, "Example Telecom Pty"),
    Place("2001:db8::/33", "JP", "Japan", "Tokyo", "Tokyo", 35.6762, 139.6503, 20,
          64505, "Example IPv6 KK"),
    Place("2001:db8:8000::/33", "BR", "Brazil", "São Paulo", "São Paulo", -23.5505,
          -46.6333, 50, 64506, "Example Rede Ltda"),
)  # fmt: skip


def _writer(database_type: str) -> MMDBWriter:
    return MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description=f"session-gateway test {database_type}",
    )


def _city_record(place: Place) -> dict[str, object]:
    return {
        "city": {"names": {"en": place.city}},
        "country": {"iso_code": place.country_code, "names": {"en": place.country}},
        "subdivisions": [{"names": {"en": place.region}}],
        "location": {
            "latitude": MmdbF64(place.latitude),
            "longitude": MmdbF64(place.longitude),
            "accuracy_radius": MmdbU16(place.accuracy_radius_km),
        },
    }


def _replace(writer: MMDBWriter, path: str) -> None:
    """Write the file beside `path` and rename it over: a reader never sees half a file."""
    scratch = f"{path}.writing"
    writer.to_db_file(scratch)
    os.replace(scratch, path)


def write_city(path: str, places: Iterable[Place]) -> None:
    """A GeoLite2-City-shaped database of `places`."""
    writer = _writer("GeoLite2-City")
    for place in places:
        writer.insert_network(IPSet([place.network]), _city_record(place))
    _replace(writer, path)


def write_asn(path: str, places: Iterable[Place]) -> None:
    """A GeoLite2-ASN-shaped database of `places`."""
    writer = _writer("GeoLite2-ASN")
    for place in places:
        record = {
            "autonomous_system_number": MmdbU32(place.asn),
            "autonomous_system_organization": place.as_organization,
        }
        writer.insert_network(IPSet([place.network]), record)
    _replace(writer, path)


def write_databases(directory: str, places: Iterable[Place] = DEMO_PLACES) -> dict[str, str]:
    """City and ASN databases of `places` in `directory`; the settings that point at them."""
    chosen = list(places)
    city, asn = os.path.join(directory, "city.mmdb"), os.path.join(directory, "asn.mmdb")
    write_city(city, chosen)
    write_asn(asn, chosen)
    return {"GATEWAY_GEOIP_CITY_DB": city, "GATEWAY_GEOIP_ASN_DB": asn}
