"""Timestamp encodings the upstreams use."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

__all__ = [
    "NS_PER_SECOND",
    "iso_millis",
    "parse_iso_ns",
    "rfc3339_ns",
    "rfc3339_seconds",
    "to_ns",
    "wcf_date",
]

NS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})"
)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def rfc3339_seconds(moment: datetime) -> str:
    """RFC 3339 in UTC with whole seconds: `2024-05-14T08:01:10Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ns(ns: int, digits: int = 9) -> str:
    """RFC 3339 in UTC with `digits` fractional digits, trailing zeros kept."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    text = rfc3339_seconds(_EPOCH + timedelta(seconds=seconds))
    if digits == 0:
        return text
    fraction = f"{nanos:09d}"[:digits]
    return f"{text[:-1]}.{fraction}Z"


# Mocks of large organisations compare the same timestamps request after request.
@functools.lru_cache(maxsize=1 << 18)
def parse_iso_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with 0-9 fractional digits."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    date, hour, minute, second, fraction, zone = match.groups()
    offset = "+00:00" if zone in {"Z", "z"} else zone
    whole = datetime.fromisoformat(f"{date}T{hour}:{minute}:{second}{offset}")
    return to_ns(whole) + int((fraction or "").ljust(9, "0"))


def iso_millis(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as ServiceStack writes: `2024-05-14T08:01:10.000Z`."""
    utc = moment.astimezone(UTC)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}Z"


def wcf_date(iso: str) -> str:
    """The WCF `/Date(ms)/` form of an ISO 8601 timestamp."""
    return f"/Date({parse_iso_ns(iso) // 1_000_000})/"
