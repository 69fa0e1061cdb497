"""Devices: one person's sessions across providers, grouped by the client they came from.

Two sessions are on one device when a provider gives both the same device fingerprint (ZITADEL's
`fingerprintId`, Prefactor's `device_id`), or when they share browser family, OS and device type
and come from the same network: the same ASN, or the same /24 (IPv4) or /48 (IPv6). The
relation is transitive, so a fingerprinted ZITADEL session and a Kratos session from the same
browser on the same network are one device. A session that says nothing of its client, or has
no address, is a device alone.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.records import SessionRecord
from app.core.useragent import DeviceType, parse_agent
from app.geo import Location
from app.geo.locator import address_of

Locate = Callable[[SessionRecord], Location | None]


@dataclass(frozen=True, slots=True)
class Client:
    """What a session says about its client, given or parsed from the raw User-Agent."""

    browser_name: str | None
    os_name: str | None
    device_type: DeviceType | None
    description: str | None

    @property
    def known(self) -> bool:
        return self.browser_name is not None or self.os_name is not None

    @property
    def name(self) -> str:
        """Reads like "Chrome on macOS"."""
        if self.browser_name and self.os_name:
            return f"{self.browser_name} on {self.os_name}"
        return self.browser_name or self.os_name or self.description or "Unknown device"


def client_of(record: SessionRecord) -> Client:
    agent = record.user_agent
    if agent is None:
        return Client(None, None, None, None)
    parsed = parse_agent(agent.raw) if agent.raw else None
    browser = agent.browser_name or (parsed.browser_name if parsed else None)
    system = agent.os_name or (parsed.os_name if parsed else None)
    return Client(
        browser_name=browser,
        os_name=system,
        device_type=parsed.device_type if parsed else None,
        description=agent.description,
    )


@dataclass(frozen=True, slots=True)
class Device:
    """Sessions of one client, newest first; `first` is the oldest, which names the device."""

    first: SessionRecord
    sessions: tuple[SessionRecord, ...]
    client: Client
    location: Location | None  # of its newest session that has one

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def last_seen_at(self) -> datetime:
        """The latest activity of any of its sessions (their start where nothing later is known)."""
        return max(r.last_seen_at or r.updated_at or r.created_at for r in self.sessions)


def _network(address: str | None) -> str | None:
    return None if address is None else _prefix(address)


# The same addresses recur across a person's sessions and requests; parsing one is the
# costliest step of grouping.
@functools.lru_cache(maxsize=4096)
def _prefix(address: str) -> str | None:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


class _Groups:
    """Union-find over session indexes, joined through shared keys."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.owner: dict[Hashable, int] = {}

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def join(self, index: int, key: Hashable) -> None:
        other = self.owner.setdefault(key, index)
        a, b = self.find(index), self.find(other)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def group_devices(records: Iterable[SessionRecord], locate: Locate) -> list[Device]:
    """The devices of one person's `records`, the most recently active first."""
    ordered = sorted(records, key=lambda r: r.sort_key)  # oldest first: it names the device
    clients = [client_of(r) for r in ordered]
    places = [locate(r) for r in ordered]
    groups = _Groups(len(ordered))
    for index, (record, client, place) in enumerate(zip(ordered, clients, places, strict=True)):
        agent = record.user_agent
        if agent is not None and agent.fingerprint_id:
            groups.join(index, ("fingerprint", record.provider, agent.fingerprint_id))
        if agent is not None and agent.device_id:
            groups.join(index, ("device", record.provider, agent.device_id))
        if not client.known:
            continue
        kind = (client.browser_name, client.os_name, client.device_type)
        if place is not None and place.asn is not None:
            groups.join(index, ("asn", kind, place.asn))
        network = _network(address_of(record))
        if network is not None:
            groups.join(index, ("network", kind, network))
    members: dict[int, list[int]] = {}
    for index in range(len(ordered)):
        members.setdefault(groups.find(index), []).append(index)
    devices = [_device(ordered, clients, places, indexes) for indexes in members.values()]
    devices.sort(key=lambda d: (d.last_seen_at, d.first.global_id), reverse=True)
    return devices


def _device(
    ordered: Sequence[SessionRecord],
    clients: Sequence[Client],
    places: Sequence[Location | None],
    indexes: list[int],
) -> Device:
    newest_first = indexes[::-1]
    # The newest session that names its client names the device.
    client = next((clients[i] for i in newest_first if clients[i].known), clients[indexes[-1]])
    location = next((places[i] for i in newest_first if places[i] is not None), None)
    return Device(
        first=ordered[indexes[0]],
        sessions=tuple(ordered[i] for i in newest_first),
        client=client,
        location=location,
    )


def device_index(devices: Iterable[Device]) -> dict[str, Device]:
    """Each session's device, by the session's global id."""
    return {r.global_id: d for d in devices for r in d.sessions}
