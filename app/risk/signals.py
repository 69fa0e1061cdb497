"""Signals: what looks new or wrong among one person's sessions across providers.

- NEW_COUNTRY: the first of the person's known sessions from a country;
- NEW_DEVICE: the first of the person's known sessions on a device (app/risk/devices.py);
- IMPOSSIBLE_TRAVEL: a session that started further from an earlier one than the fastest
  allowed travel covers in the time between their starts, both places' accuracy radii taken
  off the distance; the earlier session is named.

"Known" sessions are those the providers still return, ended ones included.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.records import SessionRecord
from app.geo.location import Location, distance_km
from app.risk.devices import Device, Locate

Point = tuple[float, float, int]  # latitude, longitude, accuracy radius (km)


class SignalKind(enum.Enum):
    NEW_COUNTRY = "NEW_COUNTRY"
    NEW_DEVICE = "NEW_DEVICE"
    IMPOSSIBLE_TRAVEL = "IMPOSSIBLE_TRAVEL"


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    detail: str
    related: SessionRecord | None = None


@dataclass(slots=True)
class _Spot:
    """A distinct located point and the latest session started there so far."""

    location: Location
    latest: SessionRecord


def compute_signals(
    records: Iterable[SessionRecord],
    devices: Mapping[str, Device],
    locate: Locate,
    max_kmh: float,
) -> dict[str, tuple[Signal, ...]]:
    """The signals of each of one person's sessions, by global id (sessions with none absent).

    `devices` maps session global ids to their devices. Travel compares each session with the
    latest earlier session at every distinct point: for one point, the latest is the one that
    left the least time, so it is the one to flag if any is.
    """
    found: dict[str, list[Signal]] = {}
    distances: dict[tuple[Point, Point], float | None] = {}  # few places, many sessions
    countries: set[str] = set()
    seen_devices: set[str] = set()
    spots: dict[Point, _Spot] = {}
    for record in sorted(records, key=lambda r: r.sort_key):
        own: list[Signal] = []
        place = locate(record)
        if place is not None and place.country_code and place.country_code not in countries:
            countries.add(place.country_code)
            own.append(
                Signal(
                    SignalKind.NEW_COUNTRY,
                    f"The first session from {place.country or place.country_code} "
                    f"({place.country_code}).",
                )
            )
        device = devices.get(record.global_id)
        if device is not None and device.first.global_id not in seen_devices:
            seen_devices.add(device.first.global_id)
            own.append(Signal(SignalKind.NEW_DEVICE, f"The first session on {device.name}."))
        if place is not None and place.latitude is not None and place.longitude is not None:
            point = (place.latitude, place.longitude, place.accuracy_radius_km or 0)
            travel = _travel(record, place, point, spots, distances, max_kmh)
            if travel is not None:
                own.append(travel)
            spots[point] = _Spot(place, record)
        if own:
            found[record.global_id] = own
    return {global_id: tuple(signals) for global_id, signals in found.items()}


def _travel(
    record: SessionRecord,
    place: Location,
    point: Point,
    spots: Mapping[Point, _Spot],
    distances: dict[tuple[Point, Point], float | None],
    max_kmh: float,
) -> Signal | None:
    """IMPOSSIBLE_TRAVEL from the earlier spot that would need the highest speed, if any."""
    worst: tuple[float, float, float, _Spot] | None = None
    for other, spot in spots.items():
        if other == point:
            continue
        pair = (other, point)
        if pair not in distances:
            distances[pair] = distance_km(spot.location, place)
        distance = distances[pair]
        if distance is None:
            continue
        apart = distance - other[2] - point[2]  # both accuracy radii taken off
        if apart <= 0:
            continue
        hours = (record.created_at - spot.latest.created_at).total_seconds() / 3600
        speed = apart / hours if hours > 0 else float("inf")
        if speed > max_kmh and (worst is None or speed > worst[0]):
            worst = (speed, apart, hours, spot)
    if worst is None:
        return None
    speed, apart, hours, spot = worst
    earlier = spot.latest
    pace = "at the same time" if hours <= 0 else f"{_duration(hours)} after"
    needs = "" if hours <= 0 else f" ({speed:,.0f} km/h; at most {max_kmh:,.0f})"
    detail = (
        f"Started {pace} a {earlier.provider.value} session in {spot.location.place}, "
        f"at least {apart:,.0f} km away{needs}."
    )
    return Signal(SignalKind.IMPOSSIBLE_TRAVEL, detail, earlier)


def _duration(hours: float) -> str:
    minutes = round(hours * 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{hours:.1f} h"
