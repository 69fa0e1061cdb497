"""The mock world's sessions read straight from each upstream's JSON, per docs/upstreams.md.

Written here rather than through the adapters' parsers, so that tests can check the gateway
(and tests/support/expected.py, which uses those parsers) against an independent reading.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import NamedTuple

from app.mocks import MockData


class RawSession(NamedTuple):
    """What orders and filters look at, for one session of the mock world."""

    global_id: str
    provider: str
    native_id: str
    created: datetime
    user: str | None
    status: str  # as of the world's `now`
    ip: str | None
    agent: list[str]  # raw User-Agents and the upstream's own descriptions
    expires: str | None  # as the upstream wrote it


def global_id(provider: str, native_id: object) -> str:
    """base32hex of "S:<PROVIDER>:<native id>", lower case, unpadded (app/core/ids.py)."""
    raw = f"S:{provider}:{native_id}".encode()
    return base64.b32hexencode(raw).decode().rstrip("=").lower()


def pfid_time(pfid: str) -> datetime:
    """A PFID's first 48 of 158 bits are its millisecond timestamp (app/mocks/prefactor/pfid.py)."""
    value = 0
    for char in pfid:
        value = value * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(char)
    return datetime.fromtimestamp((value >> 110) / 1000, UTC)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # keeps microseconds


def _expired(expires: str | None, now: datetime) -> bool:
    return expires is not None and _time(expires) <= now


def raw_sessions(data: MockData) -> list[RawSession]:
    """Every session of `data`, every provider, in no particular order."""
    now = data.now
    found: list[RawSession] = []
    for s in data.privx:
        expired = _expired(s["expires"], now)
        status = "LOGGED_OUT" if s["logged_out"] else "EXPIRED" if expired else "ACTIVE"
        found.append(
            RawSession(global_id("PRIVX", s["id"]), "PRIVX", s["id"], _time(s["created"]),
                       s["user_id"], status, s["remote_addr"], [s["user_agent"]], s["expires"])
        )  # fmt: skip
    prefactor_statuses = {"new": "PENDING", "unauthenticated": "PENDING",
                          "authenticated": "ACTIVE", "complete": "LOGGED_OUT",
                          "revoked": "REVOKED"}  # fmt: skip
    for s in data.prefactor:
        seen = s["last_seen"] or s["first_seen"]
        found.append(
            RawSession(global_id("PREFACTOR", s["id"]), "PREFACTOR", s["id"], pfid_time(s["id"]),
                       s["authenticated_identity_id"], prefactor_statuses[s["status"]],
                       seen["remote_ip"], [seen["user_agent"], s["title"]], None)
        )  # fmt: skip
    for s in data.zitadel:
        user = s.get("factors", {}).get("user")
        expires = s.get("expirationDate")
        status = "PENDING" if user is None else "EXPIRED" if _expired(expires, now) else "ACTIVE"
        agent = s.get("userAgent", {})
        texts = [*agent.get("header", {}).get("User-Agent", {}).get("values", [])]
        found.append(
            RawSession(global_id("ZITADEL", s["id"]), "ZITADEL", s["id"], _time(s["creationDate"]),
                       user and user["id"], status, agent.get("ip"),
                       [*texts, agent.get("description", "")], expires)
        )  # fmt: skip
    for s in data.hyperid_sessions:
        expires = s.get("expirationTime")
        agent = s["userAgent"]
        found.append(
            RawSession(global_id("HYPERID", s["sessionID"]), "HYPERID", str(s["sessionID"]),
                       _time(s["creationTime"]), "current",
                       "EXPIRED" if _expired(expires, now) else "ACTIVE", s["ipAddress"],
                       [agent["name"], agent["deviceName"], agent["browserName"]], expires)
        )  # fmt: skip
    for s in data.kratos:
        expires = s.get("expires_at")
        status = "EXPIRED" if _expired(expires, now) else "ACTIVE" if s.get("active") else "REVOKED"
        devices = s.get("devices") or []
        ip = devices[0].get("ip_address") if devices else None
        found.append(
            RawSession(global_id("KRATOS", s["id"]), "KRATOS", s["id"], _time(s["issued_at"]),
                       s["identity"]["id"], status, ip,
                       [d.get("user_agent") or "" for d in devices], expires)
        )  # fmt: skip
    return found
