"""Signals over one person's sessions: new countries, new devices, impossible travel."""

from __future__ import annotations

from app.core.records import Provider, SessionRecord, SessionStatus
from app.risk.devices import device_index, group_devices
from app.risk.signals import Signal, SignalKind, compute_signals
from tests.risk.records import FIREFOX_WIN, locate, session

NEW_COUNTRY, NEW_DEVICE, TRAVEL = (
    SignalKind.NEW_COUNTRY,
    SignalKind.NEW_DEVICE,
    SignalKind.IMPOSSIBLE_TRAVEL,
)


def signals_of(records: list[SessionRecord], max_kmh: float = 1000) -> dict[str, list[Signal]]:
    devices = device_index(group_devices(records, locate))
    found = compute_signals(records, devices, locate, max_kmh)
    return {r.native_id: list(found.get(r.global_id, ())) for r in records}


def kinds(found: dict[str, list[Signal]]) -> dict[str, list[SignalKind]]:
    return {native: [s.kind for s in signals] for native, signals in found.items()}


def test_another_continent_thirty_minutes_later_is_impossible_travel() -> None:
    earlier = session("z1", 0, provider=Provider.ZITADEL)  # Berlin
    later = session("k1", 30, ip="192.0.2.10")  # Sydney, at Kratos
    found = signals_of([later, earlier])
    assert kinds(found) == {
        "z1": [NEW_COUNTRY, NEW_DEVICE],
        "k1": [NEW_COUNTRY, NEW_DEVICE, TRAVEL],
    }
    travel = found["k1"][2]
    assert travel.related is earlier
    assert "ZITADEL session in Berlin, DE" in travel.detail
    assert "30 min after" in travel.detail


def test_the_same_city_an_hour_apart_is_no_travel() -> None:
    found = signals_of([session("a", 0), session("b", 60, agent=FIREFOX_WIN)])
    assert kinds(found) == {"a": [NEW_COUNTRY, NEW_DEVICE], "b": [NEW_DEVICE]}


def test_accuracy_radii_come_off_the_distance() -> None:
    # Berlin (20 km) to Potsdam (10 km) is about 25 km: within the radii at any speed.
    found = signals_of([session("a", 0), session("b", 0.5, ip="192.0.2.77")], max_kmh=1)
    assert TRAVEL not in kinds(found)["b"]


def test_slow_enough_travel_is_allowed_and_the_limit_is_the_setting() -> None:
    # Berlin to Sydney, about 16,000 km, a day later: 670 km/h.
    records = [session("a", 0), session("b", 24 * 60, ip="192.0.2.10")]
    assert TRAVEL not in kinds(signals_of(records))["b"]
    assert TRAVEL in kinds(signals_of(records, max_kmh=500))["b"]


def test_new_country_and_device_only_on_first_occurrences() -> None:
    records = [
        session("a", 0),  # Berlin, Chrome
        session("b", 10),  # same device, same country
        session("c", 20, agent=FIREFOX_WIN),  # new device, same country
        session("d", 3000, ip="192.0.2.10"),  # Sydney two days later: new country and device
        session("e", 3010, ip="192.0.2.10"),  # same again
        session("f", 6000, status=SessionStatus.EXPIRED),  # ended sessions count as well
    ]
    assert kinds(signals_of(records)) == {
        "a": [NEW_COUNTRY, NEW_DEVICE],
        "b": [],
        "c": [NEW_DEVICE],
        "d": [NEW_COUNTRY, NEW_DEVICE],
        "e": [],
        "f": [],
    }


def test_travel_names_the_session_that_needs_the_highest_speed() -> None:
    records = [
        session("berlin-old", 0),
        session("sydney", 600, ip="192.0.2.10"),  # 10 h after: 1,600 km/h, impossible
        session("berlin-new", 660),  # 1 h after Sydney: far worse
    ]
    found = signals_of(records)
    travel = [s for s in found["berlin-new"] if s.kind is TRAVEL]
    assert len(travel) == 1
    assert travel[0].related is records[1]


def test_sessions_without_a_place_have_no_place_signals() -> None:
    found = signals_of([session("a", 0, ip=None), session("b", 1, ip="10.0.0.1")])
    assert kinds(found) == {"a": [NEW_DEVICE], "b": [NEW_DEVICE]}
