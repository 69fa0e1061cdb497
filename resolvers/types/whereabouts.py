"""A person's sessions across providers, read once per request, and what is worked out over
them: devices (app/risk/devices.py) and signals (app/risk/signals.py).

A person is the people directory's (the caller's token, the people file); a session without a
user is a person of its own. What is read is what the caller may see: a scoped caller's signals
come from its own sessions only. Ended sessions count, as far as each provider still returns
them (docs/locations.md says how far back that is).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from app.core.errors import BadUserInput
from app.core.records import SessionRecord
from app.geo import Locator
from app.listing.filter import SessionFilter
from app.listing.paginate import paginate
from app.people import Person, UserKey
from app.risk.devices import Device, device_index, group_devices
from app.risk.signals import Signal, SignalKind, compute_signals
from app.upstream.fanout import fingerprint, plan_streams
from resolvers.types.context import Info
from resolvers.types.current import person_of

T = TypeVar("T")

# Sessions of one person read for its devices and signals, newest first.
PERSON_SESSIONS = 500
# Sessions the `signals` filter reads to find everyone's signals, newest first.
SCAN_SESSIONS = 2000
_KEY = "whereabouts."


@dataclass(frozen=True, slots=True)
class Insight:
    """One person's sessions, devices and signals."""

    sessions: tuple[SessionRecord, ...]
    devices: tuple[Device, ...]
    device_of: Mapping[str, Device]  # by session global id
    signals: Mapping[str, tuple[Signal, ...]]  # by session global id

    @classmethod
    def of(cls, records: Iterable[SessionRecord], info: Info) -> Insight:
        upstreams = info.context.upstreams
        locate = upstreams.locator.of_session
        chosen = tuple(records)
        devices = group_devices(chosen, locate)
        index = device_index(devices)
        signals = compute_signals(chosen, index, locate, upstreams.max_travel_kmh)
        return cls(chosen, tuple(devices), index, signals)


async def _once(info: Info, key: str, make: Callable[[], Awaitable[T]]) -> T:
    """`make()`'s result, made once per request however many fields ask at once."""
    values: dict[str, Any] = info.context.loaders.scope.values
    task = values.get(key)
    if task is None:
        task = values[key] = asyncio.ensure_future(make())
    result: T = await asyncio.shield(task)
    return result


async def read_sessions(info: Info, wanted: SessionFilter, limit: int) -> list[SessionRecord]:
    """Up to `limit` of the sessions `wanted` selects that the caller may see, newest first,
    at every enabled provider; a provider that fails is reported and left out."""
    context = info.context
    session_filter = context.principal.restrict(wanted)
    streams = plan_streams(
        context.upstreams, session_filter, descending=True, scope=context.loaders.scope
    )
    page = await paginate(
        streams,
        descending=True,
        fingerprint=fingerprint(session_filter, True, streams),
        forward=True,
        size=limit,
        cursor=None,
    )
    for failure in page.failures.values():
        context.report(failure, list(info.path.as_list()))
    return [edge.record for edge in page.edges]


async def person_insight(info: Info, person: Person) -> Insight:
    """Devices and signals of `person`, over its sessions at every provider."""

    async def make() -> Insight:
        wanted = SessionFilter(users=person.users)
        return Insight.of(await read_sessions(info, wanted, PERSON_SESSIONS), info)

    return await _once(info, _KEY + person.id, make)


async def session_insight(info: Info, record: SessionRecord) -> Insight:
    """The insight of the person `record` belongs to (of `record` alone without a user)."""
    if record.user is None:
        return Insight.of([record], info)
    person = await person_of(info, (record.provider, record.user.native_id))
    found = await person_insight(info, person)
    if record.global_id not in found.device_of:
        # Not among what was read (older than the newest PERSON_SESSIONS): with it added.
        return Insight.of([*found.sessions, record], info)
    return found


async def flagged(info: Info, session_filter: SessionFilter) -> dict[str, frozenset[SignalKind]]:
    """The signal kinds of every flagged session among the people `session_filter` can reach:
    the people of its users, or everyone in scope (a scan of up to SCAN_SESSIONS)."""
    scan = SessionFilter()
    if session_filter.users is not None:
        people = [await person_of(info, user) for user in sorted(session_filter.users, key=str)]
        scan = SessionFilter(users=frozenset(u for p in people for u in p.users))
    records = await read_sessions(info, scan, SCAN_SESSIONS)
    groups: dict[str, list[SessionRecord]] = {}
    persons: dict[UserKey, str] = {}
    for record in records:
        if record.user is None:
            groups[record.global_id] = [record]
            continue
        key = (record.provider, record.user.native_id)
        if key not in persons:
            persons[key] = (await person_of(info, key)).id
        groups.setdefault(persons[key], []).append(record)
    found: dict[str, frozenset[SignalKind]] = {}
    for group in groups.values():
        for global_id, signals in Insight.of(group, info).signals.items():
            found[global_id] = frozenset(s.kind for s in signals)
    return found


async def prepare(info: Info, session_filter: SessionFilter) -> SessionFilter:
    """`session_filter` ready to run: the parts the gateway answers from places and signals
    given what they need, or a BadUserInput when a database they need is not configured."""
    session_filter = located(session_filter, info.context.upstreams.locator)
    if session_filter.signals is not None:
        session_filter = session_filter.with_flagged(await flagged(info, session_filter))
    return session_filter


def located(session_filter: SessionFilter, locator: Locator) -> SessionFilter:
    """`session_filter` finding places with `locator` when its countries or asns need them."""
    if session_filter.countries is not None and locator.city is None:
        raise BadUserInput("`filter.countries` needs GATEWAY_GEOIP_CITY_DB, which is not set.")
    if session_filter.asns is not None and locator.asn is None:
        raise BadUserInput("`filter.asns` needs GATEWAY_GEOIP_ASN_DB, which is not set.")
    if session_filter.countries is not None or session_filter.asns is not None:
        return session_filter.with_locate(locator.of_session)
    return session_filter
