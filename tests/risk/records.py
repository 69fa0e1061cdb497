"""Sessions and places for the devices and signals tests, written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core import ids
from app.core.records import Extras, Provider, SessionRecord, SessionStatus, UserAgentRecord
from app.geo import Location

T0 = datetime(2026, 5, 14, 8, 0, tzinfo=UTC)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

BERLIN = Location("DE", "Germany", "Berlin", "Berlin", 52.52, 13.405, 20, 64501, "DE net")
BERLIN_MOBILE = Location("DE", "Germany", "Berlin", "Berlin", 52.52, 13.405, 20, 64511, "DE mob")
SYDNEY = Location("AU", "Australia", "NSW", "Sydney", -33.87, 151.21, 50, 64504, "AU net")
POTSDAM = Location("DE", "Germany", "Brandenburg", "Potsdam", 52.39, 13.06, 10, 64501, "DE net")
# Where each test address is.
PLACES = {
    "203.0.113.7": BERLIN,
    "203.0.113.99": BERLIN,
    "203.0.114.5": BERLIN,  # another /24 of the same ASN
    "198.51.100.4": BERLIN_MOBILE,
    "192.0.2.10": SYDNEY,
    "192.0.2.77": POTSDAM,
}


def locate(record: SessionRecord) -> Location | None:
    address = record.remote_address or (record.user_agent.ip if record.user_agent else None)
    return PLACES.get(address or "")


def session(
    native_id: str,
    minutes: float,
    ip: str | None = "203.0.113.7",
    agent: str | None = CHROME_MAC,
    provider: Provider = Provider.KRATOS,
    fingerprint: str | None = None,
    device: str | None = None,
    status: SessionStatus = SessionStatus.ACTIVE,
) -> SessionRecord:
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=status,
        created_at=T0 + timedelta(minutes=minutes),
        extras=Extras(),
        remote_address=ip,
        user_agent=UserAgentRecord(raw=agent, ip=ip, fingerprint_id=fingerprint, device_id=device)
        if agent or fingerprint or device
        else None,
    )
