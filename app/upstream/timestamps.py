"""Every upstream timestamp encoding, turned into aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_RFC3339 = re.compile(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339(value: str, *, naive_is_utc: bool = False) -> datetime:
    """Parse RFC 3339 (`Z` or an offset, 0-9 fractional digits) into UTC."""
    # Fast path for the shape upstreams send, `YYYY-MM-DDTHH:MM:SS[.digits]Z`, where
    # fromisoformat (which reads `Z` as UTC) gives what the general path gives. It is lenient
    # about other shapes, so what the checks below do not pin to this one goes the general way.
    # Past 27 characters there are over 6 fractional digits: keep 6, as the general path does.
    try:
        parsed = datetime.fromisoformat(value if len(value) <= 27 else value[:26] + "Z")
    except ValueError:
        return _parse_general(value, naive_is_utc)
    shape = value[10:20:3]  # the characters at 10, 13, 16 and 19
    if (shape == "T::Z" and len(value) == 20) or (
        shape == "T::." and value[-1:] == "Z" and value[20:-1].isdecimal()
    ):
        return parsed
    return _parse_general(value, naive_is_utc)


def _parse_general(value: str, naive_is_utc: bool) -> datetime:
    text = value.strip()
    # fromisoformat keeps at most 6 fractional digits; RFC 3339 allows up to 9.
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    head, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    if zone in ("Z", "z"):
        zone = "+00:00"
    parsed = datetime.fromisoformat(f"{head}{fraction}{zone}")
    if parsed.tzinfo is None:
        if naive_is_utc:
            return parsed.replace(tzinfo=UTC)
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def from_unix_seconds(value: float) -> datetime:
    """Convert Unix seconds into UTC."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a Unix time")
    return datetime.fromtimestamp(value, UTC)


def parse_servicestack(value: str) -> datetime:
    """Parse a ServiceStack date: ISO 8601, or the WCF form `/Date(ms)/` with optional offset."""
    # Without a parenthesis it cannot be the WCF form: skip that pattern for ISO dates.
    match = _WCF_DATE.match(value.strip()) if "(" in value else None
    if match is None:
        # .NET DateTime of kind Unspecified serialises without a zone; the service works in UTC.
        return parse_rfc3339(value, naive_is_utc=True)
    # The offset in the WCF form only says how to display the instant; ms are UTC already.
    return _EPOCH + timedelta(milliseconds=int(match.group(1)))
