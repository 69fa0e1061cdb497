"""Locations from MaxMind-format files built in the test: lookups, re-opening, bad files."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.core.errors import ConfigError
from app.geo import GeoDatabase, Locator, ReloadFailures, open_locator
from app.geo.location import Location, distance_km
from app.main import create_app
from app.mocks.geo import DEMO_PLACES, Place, write_asn, write_city, write_databases
from app.settings import Settings

BERLIN = Place(
    "203.0.113.0/24", "DE", "Germany", "Berlin", "Berlin", 52.52, 13.405, 20, 64501, "Example DE"
)
SYDNEY = Place(
    "192.0.2.0/24", "AU", "Australia", "NSW", "Sydney", -33.87, 151.21, 50, 64504, "Example AU"
)
TOKYO = Place(
    "2001:db8::/32", "JP", "Japan", "Tokyo", "Tokyo", 35.68, 139.65, 20, 64505, "Example JP"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def located(place: Place) -> Location:
    return Location(
        country_code=place.country_code,
        country=place.country,
        region=place.region,
        city=place.city,
        latitude=place.latitude,
        longitude=place.longitude,
        accuracy_radius_km=place.accuracy_radius_km,
        asn=place.asn,
        as_organization=place.as_organization,
    )


def test_known_networks_give_known_places_and_asns(tmp_path: Path) -> None:
    env = write_databases(str(tmp_path), [BERLIN, SYDNEY, TOKYO])
    locator = open_locator(env["GATEWAY_GEOIP_CITY_DB"], env["GATEWAY_GEOIP_ASN_DB"])
    assert locator.locate("203.0.113.7") == located(BERLIN)
    assert locator.locate("192.0.2.200") == located(SYDNEY)
    assert locator.locate("2001:db8:5::1") == located(TOKYO)


@pytest.mark.parametrize(
    "address", [None, "", "not an address", "10.1.2.3", "127.0.0.1", "::1", "198.51.100.1"]
)
def test_unknown_or_unparsable_addresses_have_no_location(
    tmp_path: Path, address: str | None
) -> None:
    env = write_databases(str(tmp_path), [BERLIN, SYDNEY, TOKYO])
    locator = open_locator(env["GATEWAY_GEOIP_CITY_DB"], env["GATEWAY_GEOIP_ASN_DB"])
    assert locator.locate(address) is None


def test_a_private_range_the_database_holds_is_located(tmp_path: Path) -> None:
    office = replace(BERLIN, network="10.0.0.0/8", city="Potsdam")
    env = write_databases(str(tmp_path), [office])
    locator = open_locator(env["GATEWAY_GEOIP_CITY_DB"], None)
    found = locator.locate("10.20.30.40")
    assert found is not None
    assert found.city == "Potsdam"
    assert found.asn is None  # no ASN database configured


def test_without_databases_nothing_is_located() -> None:
    assert Locator().locate("203.0.113.7") is None


def test_city_alone_and_asn_alone(tmp_path: Path) -> None:
    write_city(str(tmp_path / "city.mmdb"), [BERLIN])
    write_asn(str(tmp_path / "asn.mmdb"), [BERLIN])
    city = open_locator(str(tmp_path / "city.mmdb"), None).locate("203.0.113.1")
    asn = open_locator(None, str(tmp_path / "asn.mmdb")).locate("203.0.113.1")
    assert city == replace(located(BERLIN), asn=None, as_organization=None)
    assert asn == Location(asn=BERLIN.asn, as_organization=BERLIN.as_organization)


@pytest.mark.parametrize("variable", ["GATEWAY_GEOIP_CITY_DB", "GATEWAY_GEOIP_ASN_DB"])
def test_a_missing_file_refuses_start_up_naming_the_variable(tmp_path: Path, variable: str) -> None:
    env = write_databases(str(tmp_path), [BERLIN])
    env[variable] = str(tmp_path / "typo.mmdb")
    with pytest.raises(ConfigError, match=variable):
        open_locator(env["GATEWAY_GEOIP_CITY_DB"], env["GATEWAY_GEOIP_ASN_DB"])


def test_a_file_that_is_not_a_database_refuses_start_up(tmp_path: Path) -> None:
    junk = tmp_path / "city.mmdb"
    junk.write_bytes(b"not a MaxMind DB" * 100)
    with pytest.raises(ConfigError, match="GATEWAY_GEOIP_CITY_DB"):
        open_locator(str(junk), None)


def test_a_replaced_file_changes_answers_without_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "city.mmdb")
    write_city(path, [BERLIN])
    clock = Clock()
    locator = Locator(GeoDatabase.open(path, "GATEWAY_GEOIP_CITY_DB", clock=clock))
    before = locator.locate("203.0.113.7")
    assert before is not None
    assert before.city == "Berlin"
    write_city(path, [replace(BERLIN, city="Hamburg")])
    assert locator.locate("203.0.113.7") == before  # not looked at again yet (kept answer)
    clock.now += 1.5
    after = locator.locate("203.0.113.7")
    assert after is not None
    assert after.city == "Hamburg"


def test_an_unreadable_replacement_keeps_the_open_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "city.mmdb")
    write_city(path, [BERLIN])
    clock = Clock()
    registry = CollectorRegistry()
    database = GeoDatabase.open(
        path, "GATEWAY_GEOIP_CITY_DB", failures=ReloadFailures(registry), clock=clock
    )
    locator = Locator(database)
    broken = tmp_path / "broken"
    broken.write_bytes(b"\0" * 4096)
    os.replace(broken, path)
    caplog.set_level(logging.ERROR, "session_gateway.geo")
    for _ in range(3):  # looked at three times, reported once
        clock.now += 1.5
        found = locator.locate("203.0.113.9")
        assert found is not None
        assert found.city == "Berlin"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "GATEWAY_GEOIP_CITY_DB" in errors[0].getMessage()
    failures = registry.get_sample_value(
        "gateway_geoip_reload_failures_total", {"variable": "GATEWAY_GEOIP_CITY_DB"}
    )
    assert failures == 1
    os.remove(path)  # gone altogether: a new bad state, reported once more
    clock.now += 1.5
    assert locator.locate("203.0.113.9") is not None
    write_city(path, [replace(BERLIN, city="Bonn")])  # a good file again is taken up
    clock.now += 1.5
    healed = locator.locate("203.0.113.9")
    assert healed is not None
    assert healed.city == "Bonn"
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2


def test_the_demo_places_are_all_found(tmp_path: Path) -> None:
    env = write_databases(str(tmp_path))
    locator = open_locator(env["GATEWAY_GEOIP_CITY_DB"], env["GATEWAY_GEOIP_ASN_DB"])
    for place in DEMO_PLACES:
        address = place.network.split("/")[0]
        assert locator.locate(address) == located(place)


def test_distance_between_cities() -> None:
    berlin, sydney = located(BERLIN), located(SYDNEY)
    distance = distance_km(berlin, sydney)
    assert distance is not None
    assert 16_000 < distance < 16_200  # Berlin-Sydney is about 16,090 km
    assert distance_km(berlin, berlin) == 0
    assert distance_km(berlin, Location(country_code="DE")) is None


def test_the_app_refuses_to_start_with_a_database_it_cannot_open(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {
            "GATEWAY_ALLOW_ANONYMOUS": "true",
            "GATEWAY_GEOIP_ASN_DB": str(tmp_path / "GeoLite2-ASN.mmbd"),  # a typo
        }
    )
    with pytest.raises(ConfigError, match="GATEWAY_GEOIP_ASN_DB"):
        create_app(settings)
