"""Locator: an address's Location from the City and ASN databases, cached per address."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from app.core.records import SessionRecord
from app.geo.database import GeoDatabase, ReloadFailures
from app.geo.location import Location

# Addresses whose answers are kept: a page of sessions repeats a few addresses many times.
CACHED_ADDRESSES = 4096


class Locator:
    """Locations of addresses; without databases every answer is None."""

    def __init__(self, city: GeoDatabase | None = None, asn: GeoDatabase | None = None) -> None:
        self.city = city
        self.asn = asn
        self._cache: dict[str, Location | None] = {}
        self._generations = self._current()

    @property
    def enabled(self) -> bool:
        return self.city is not None or self.asn is not None

    def _current(self) -> tuple[int, int]:
        return (
            self.city.generation if self.city else 0,
            self.asn.generation if self.asn else 0,
        )

    def locate(self, address: str | None) -> Location | None:
        """Where `address` is; None without a database, an address, or a network the
        databases know (private, loopback and documentation ranges, unless they hold them).
        An address that does not parse is None too, not an error."""
        if address is None or not self.enabled:
            return None
        if self.city is not None:
            self.city.check()
        if self.asn is not None:
            self.asn.check()
        if address in self._cache and self._generations == self._current():
            return self._cache[address]
        located = self._lookup(address)
        # A re-opened file (its generation moved on) makes every kept answer stale.
        generations = self._current()
        if generations != self._generations or len(self._cache) >= CACHED_ADDRESSES:
            self._cache.clear()
            self._generations = generations
        self._cache[address] = located
        return located

    def of_session(self, record: SessionRecord) -> Location | None:
        """Where a session was used from: its remote address, else its user agent's."""
        return self.locate(address_of(record))

    def _lookup(self, address: str) -> Location | None:
        try:
            parsed = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
        city = self.city.get(parsed) if self.city else None
        network = self.asn.get(parsed) if self.asn else None
        if not city and not network:
            return None
        return _location(city or {}, network or {})

    def close(self) -> None:
        for database in (self.city, self.asn):
            if database is not None:
                database.close()


def address_of(record: SessionRecord) -> str | None:
    """The address a session was used from, as its provider recorded it."""
    if record.remote_address:
        return record.remote_address
    return record.user_agent.ip if record.user_agent else None


def _name(entry: object) -> str | None:
    """The English name of a GeoIP2 entry (`{"names": {"en": ...}}`), or a plain string."""
    if isinstance(entry, str):
        return entry or None
    if isinstance(entry, Mapping):
        names = entry.get("names")
        if isinstance(names, Mapping):
            english = names.get("en")
            return english if isinstance(english, str) else None
    return None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):  # IPinfo writes ASNs as "AS64500"
        digits = value.upper().removeprefix("AS")
        return int(digits) if digits.isdigit() else None
    return None


def _location(city: Mapping[str, Any], network: Mapping[str, Any]) -> Location:
    """GeoIP2/GeoLite2 (and DB-IP) records, or the flat fields of IPinfo's files."""
    country = city.get("country")
    code = country.get("iso_code") if isinstance(country, Mapping) else city.get("country_code")
    if not isinstance(code, str) and isinstance(country, str) and len(country) == 2:
        code = country  # IPinfo: `country` is the code, `country_name` the name
    where = city.get("location")
    where = where if isinstance(where, Mapping) else {}
    subdivisions = city.get("subdivisions")
    region = (
        _name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    ) or _name(city.get("region"))
    country_name = _name(country) if isinstance(country, Mapping) else None
    return Location(
        country_code=code.upper() if isinstance(code, str) and code else None,
        country=country_name or _name(city.get("country_name")),
        region=region,
        city=_name(city.get("city")),
        latitude=_float(where.get("latitude", city.get("lat"))),
        longitude=_float(where.get("longitude", city.get("lng"))),
        accuracy_radius_km=_int(where.get("accuracy_radius")),
        asn=_int(network.get("autonomous_system_number", network.get("asn"))),
        as_organization=_name(
            network.get(
                "autonomous_system_organization", network.get("as_name", network.get("name"))
            )
        ),
    )


def open_locator(
    city_path: str | None,
    asn_path: str | None,
    failures: ReloadFailures | None = None,
) -> Locator:
    """The locator of the configured files (GATEWAY_GEOIP_CITY_DB, GATEWAY_GEOIP_ASN_DB); one
    that cannot be opened raises ConfigError naming its variable."""
    city = asn = None
    if city_path is not None:
        city = GeoDatabase.open(city_path, "GATEWAY_GEOIP_CITY_DB", failures=failures)
    if asn_path is not None:
        try:
            asn = GeoDatabase.open(asn_path, "GATEWAY_GEOIP_ASN_DB", failures=failures)
        except Exception:
            if city is not None:
                city.close()
            raise
    return Locator(city, asn)


# The locator of the app serving this request, set with its context (resolvers/types/context.py):
# `Session.location` reads it without taking `info`, which keeps that field on the compiled
# plans' direct path (resolvers/engine/plan.py) for the nine fields of every session on a page.
NO_LOCATOR = Locator()  # no databases: it keeps nothing, so one serves everyone
REQUEST_LOCATOR: ContextVar[Locator] = ContextVar("request_locator", default=NO_LOCATOR)
