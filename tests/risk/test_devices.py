"""Devices: one person's sessions grouped by fingerprint, or by client and network."""

from __future__ import annotations

from app.core.records import Provider
from app.core.useragent import DeviceType
from app.risk.devices import Device, device_index, group_devices
from tests.risk.records import (
    BERLIN,
    FIREFOX_WIN,
    SAFARI_IPHONE,
    locate,
    session,
)


def names(devices: list[Device]) -> list[tuple[str, list[str]]]:
    return [(d.name, [r.native_id for r in d.sessions]) for d in devices]


def test_same_client_same_network_across_providers_is_one_device() -> None:
    records = [
        session("z1", 0, provider=Provider.ZITADEL),
        session("k1", 30, ip="203.0.113.99"),  # the same /24
        session("k2", 60, ip="203.0.114.5"),  # another /24, the same ASN
    ]
    devices = group_devices(records, locate)
    assert names(devices) == [("Chrome on Mac OS X", ["k2", "k1", "z1"])]
    only = devices[0]
    assert only.first.native_id == "z1"
    assert only.client.device_type is DeviceType.DESKTOP
    assert only.location == BERLIN
    assert only.last_seen_at == records[2].created_at


def test_other_client_or_other_network_is_another_device() -> None:
    records = [
        session("a", 0),
        session("b", 10, agent=FIREFOX_WIN),
        session("c", 20, ip="192.0.2.10"),  # Chrome on a Mac, but in another network
        session("d", 30, ip="198.51.100.4", agent=SAFARI_IPHONE),
    ]
    devices = group_devices(records, locate)
    assert names(devices) == [
        ("Mobile Safari on iOS", ["d"]),
        ("Chrome on Mac OS X", ["c"]),
        ("Firefox on Windows", ["b"]),
        ("Chrome on Mac OS X", ["a"]),
    ]


def test_a_fingerprint_joins_sessions_whatever_their_networks() -> None:
    records = [
        session("z1", 0, provider=Provider.ZITADEL, fingerprint="fp-1"),
        session("z2", 5, provider=Provider.ZITADEL, fingerprint="fp-1", ip="192.0.2.10"),
        session("k1", 9, ip="192.0.2.10"),  # joins through z2's client and network
        session("z3", 10, provider=Provider.ZITADEL, fingerprint="fp-2", agent=FIREFOX_WIN),
    ]
    devices = group_devices(records, locate)
    assert names(devices) == [
        ("Firefox on Windows", ["z3"]),
        ("Chrome on Mac OS X", ["k1", "z2", "z1"]),
    ]
    index = device_index(devices)
    assert index[records[0].global_id] is index[records[2].global_id]


def test_sessions_that_say_nothing_of_their_client_stay_alone() -> None:
    records = [session("x", 0, agent=None), session("y", 1, agent=None), session("z", 2, ip=None)]
    devices = group_devices(records, locate)
    assert sorted(d.first.native_id for d in devices) == ["x", "y", "z"]
    assert {d.name for d in devices} == {"Unknown device", "Chrome on Mac OS X"}


def test_a_providers_device_id_joins_its_sessions() -> None:
    records = [
        session("p1", 0, provider=Provider.PREFACTOR, device="dev-1"),
        session("p2", 60, provider=Provider.PREFACTOR, device="dev-1", ip="192.0.2.10"),
        session("p3", 90, provider=Provider.PREFACTOR, device="dev-2", ip="192.0.2.10",
                agent=FIREFOX_WIN),
    ]  # fmt: skip
    assert names(group_devices(records, locate)) == [
        ("Firefox on Windows", ["p3"]),
        ("Chrome on Mac OS X", ["p2", "p1"]),
    ]
