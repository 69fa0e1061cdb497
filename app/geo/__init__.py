"""Locations from IP addresses, read offline from MaxMind-format City and ASN databases."""

from app.geo.database import GeoDatabase, ReloadFailures
from app.geo.location import Location
from app.geo.locator import REQUEST_LOCATOR, Locator, open_locator

__all__ = [
    "REQUEST_LOCATOR",
    "GeoDatabase",
    "Location",
    "Locator",
    "ReloadFailures",
    "open_locator",
]
