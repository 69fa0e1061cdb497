"""Session.location and the countries, asns and lastSeenAt filters over real HTTP.

The generated world's addresses are documentation networks; databases built in the test place
each network (app/mocks/geo.py's DEMO_PLACES), so each session's expected place is read from
its raw address here, not from the gateway's lookup.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.core.records import SessionRecord
from app.geo.locator import address_of
from app.mocks import MockData, generate
from app.mocks.geo import DEMO_PLACES, Place, write_city, write_databases
from tests.support.expected import all_records
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

WALK = """
query Walk($after: String, $filter: SessionFilterInput) {
  sessions(first: 100, after: $after, filter: $filter) {
    edges { node { id provider location {
      countryCode country region city latitude longitude accuracyRadiusKm asn asOrganization
    } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


class World:
    def __init__(self, stack: LiveStack, data: MockData, directory: Path) -> None:
        self.stack = stack
        self.data = data
        self.directory = directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("geo")
    data = generate()
    env = write_databases(str(directory))
    with LiveStack(data, env) as stack:
        yield World(stack, data, directory)


def place_of(record: SessionRecord) -> Place | None:
    address = address_of(record)
    if address is None:
        return None
    parsed = ipaddress.ip_address(address)
    return next((p for p in DEMO_PLACES if parsed in ipaddress.ip_network(p.network)), None)


def shown(place: Place | None) -> dict[str, Any] | None:
    if place is None:
        return None
    return {
        "countryCode": place.country_code,
        "country": place.country,
        "region": place.region,
        "city": place.city,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "accuracyRadiusKm": place.accuracy_radius_km,
        "asn": place.asn,
        "asOrganization": place.as_organization,
    }


def walk(stack: LiveStack, session_filter: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every session the filter selects: global id -> node."""
    found: dict[str, Any] = {}
    cursor = None
    for _ in range(50):
        result = post(stack.url, WALK, {"after": cursor, "filter": session_filter})
        assert "errors" not in result, result["errors"]
        page = result["data"]["sessions"]
        found.update((e["node"]["id"], e["node"]) for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        cursor = page["pageInfo"]["endCursor"]
    raise AssertionError("the walk did not end")


def test_locations_match_for_every_provider_that_reports_an_address(world: World) -> None:
    records = {r.global_id: r for r in all_records(world.data)}
    nodes = walk(world.stack)
    assert set(nodes) == set(records)
    located_providers = set()
    for global_id, node in nodes.items():
        expected = shown(place_of(records[global_id]))
        assert node["location"] == expected, global_id
        if expected is not None:
            located_providers.add(node["provider"])
    assert located_providers == {"PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"}


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ({"countries": ["DE", "au"]}, lambda p: p.country_code in {"DE", "AU"}),
        ({"asns": [64500, 64505]}, lambda p: p.asn in {64500, 64505}),
        ({"countries": ["FI"], "asns": [64500, 64501]}, lambda p: p.asn == 64500),
        ({"countries": ["NZ"]}, lambda p: False),
    ],
)
def test_countries_and_asns_select_exactly_the_matching_sessions(
    world: World, given: dict[str, Any], wanted: Any
) -> None:
    records = all_records(world.data)
    expected = {r.global_id for r in records if (p := place_of(r)) is not None and wanted(p)}
    assert set(walk(world.stack, given)) == expected


def test_last_seen_at_selects_by_last_activity(world: World) -> None:
    records = all_records(world.data)
    seen = sorted(r.last_seen_at for r in records if r.last_seen_at is not None)
    since = seen[len(seen) // 2]
    expected = {r.global_id for r in records if r.last_seen_at and r.last_seen_at >= since}
    assert expected
    found = walk(world.stack, {"lastSeenAt": {"since": since.isoformat()}})
    assert set(found) == expected


def test_an_unknown_country_code_is_a_coded_error_naming_it(world: World) -> None:
    result = post(world.stack.url, WALK, {"filter": {"countries": ["DE", "XX"]}})
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'XX'" in error["message"]
    assert "filter.countries" in error["message"]


def test_replacing_the_database_changes_answers_without_a_restart(world: World) -> None:
    office = next(p for p in DEMO_PLACES if p.city == "Helsinki")
    records = all_records(world.data)
    one = next(r for r in records if place_of(r) == office)
    query = "query($id: ID!) { session(id: $id) { location { city } } }"

    def city() -> str:
        result = post(world.stack.url, query, {"id": one.global_id})
        assert "errors" not in result, result["errors"]
        return str(result["data"]["session"]["location"]["city"])

    assert city() == "Helsinki"
    path = str(world.directory / "city.mmdb")
    moved = [replace(p, city="Espoo") if p == office else p for p in DEMO_PLACES]
    try:
        write_city(path, moved)
        deadline = time.monotonic() + 30  # the file is looked at once a second
        while city() != "Espoo":
            assert time.monotonic() < deadline, "the replaced file was not taken up"
            time.sleep(0.2)
    finally:
        write_city(path, DEMO_PLACES)
    assert os.path.exists(path)


def test_no_database_means_no_location_and_refused_place_filters() -> None:
    with LiveStack(generate(privx_sessions=5, prefactor_sessions=5, zitadel_sessions=5,
                            hyperid_sessions=2, kratos_sessions=5)) as stack:  # fmt: skip
        nodes = walk(stack)
        assert nodes
        assert all(n["location"] is None for n in nodes.values())
        result = post(stack.url, WALK, {"filter": {"countries": ["DE"]}})
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "GATEWAY_GEOIP_CITY_DB" in error["message"]


def test_a_users_sessions_take_the_place_filters(world: World) -> None:
    records = all_records(world.data)
    user = next(r for r in records if r.user is not None and place_of(r) is not None)
    assert user.user is not None
    code = place_of(user).country_code  # type: ignore[union-attr]
    query = """query($id: ID!, $f: UserSessionFilterInput) { session(id: $id) { user {
        sessions(first: 100, filter: $f) { nodes { id } } } } }"""
    result = post(world.stack.url, query, {"id": user.global_id, "f": {"countries": [code]}})
    assert "errors" not in result, result["errors"]
    found = {n["id"] for n in result["data"]["session"]["user"]["sessions"]["nodes"]}
    expected = {
        r.global_id
        for r in records
        if r.user == user.user and (p := place_of(r)) is not None and p.country_code == code
    }
    assert found == expected
    assert user.global_id in found
