"""A small fixed mock world, written by hand, and what the gateway must make of it.

Three sessions per provider, in each upstream's own JSON shape (as app/mocks' generators write
it). Times are fixed dates, and every expiry is either past (2025) or far ahead (2099), so no
status depends on when the tests run. The expectations below (`SESSIONS`, `NEWEST_FIRST`) were
worked out by hand from docs/upstreams.md, not by the gateway's parsers.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from app.mocks import MockData

__all__ = ["NEWEST_FIRST", "SESSIONS", "Expected", "small_world"]

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
CURL = "curl/8.5.0"
PYTHON = "python-requests/2.31.0"

# Users: Alice and Bob in PrivX, Carol in Prefactor, Dave in ZITADEL; hyper.id's is `current`.
ALICE = "6f1c2a4e-1b7d-4c3e-9a51-0d2f6b8e4a11"
BOB = "0b9e3d2c-5a4f-4e6d-8c7b-1a2f3e4d5c6b"
PRIVX_SOURCE = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"
CAROL = "01hz8hh5003nqk8nexp6tsf32z59yd4a"  # Prefactor identity (a PFID of 2024-06-01)
DAVE = "300000000000000001"
ZITADEL_ORG = "290000000000000001"

# Prefactor ids are PFIDs: the first 10 characters are the creation time in milliseconds.
POOL = "01hkxfft003nqk8nxcxksex94qht0xd7"
ACCOUNT = "01hkrapc003nqk8nqdbjxjxr3q92y29n"
DOMAIN = "01hktx33003nqk8nm4cwa6g4k5w11zn6"
F1 = "01jn8s7qg03nqk8ntp5dsfs2vvgr5md3"  # 2025-03-01T12:00:00.000Z
F2 = "01jnb26art3nqk8n1rqd7ankjd5zznyq"  # 2025-03-02T09:15:00.250Z
F3 = "01jnh0rng43nqk8n8axvcpxqx4727q8j"  # 2025-03-04T16:45:30.500Z

P1, P2, P3 = (
    "a1111111-1111-4111-8111-111111111111",
    "a2222222-2222-4222-8222-222222222222",
    "a3333333-3333-4333-8333-333333333333",
)
Z1, Z2, Z3 = "310000000000000001", "310000000000000002", "310000000000000003"
H1, H2, H3 = 8000001, 8000002, 8000003


def _privx(
    native_id: str, user: str, username: str, created: str, expires: str, **rest: Any
) -> dict[str, Any]:
    return {
        "id": native_id,
        "user_id": user,
        "source_id": PRIVX_SOURCE,
        "domain": "privx-ui",
        "username": username,
        "type": "login",
        "created": created,
        "updated": created,
        "expires": expires,
        "token_expires": created,
        **rest,
    }


PRIVX: list[dict[str, Any]] = [
    _privx(
        P1, ALICE, "alice", "2025-03-01T09:00:00Z", "2099-01-01T00:00:00Z",
        remote_addr="203.0.113.10", user_agent=FIREFOX_LINUX, logged_out=False, current=True,
    ),
    _privx(
        P2, BOB, "bob", "2025-03-02T10:00:00Z", "2025-03-02T18:00:00Z",
        remote_addr="198.51.100.7", user_agent=CHROME_WINDOWS, logged_out=False,
    ),
    _privx(
        P3, ALICE, "alice", "2025-03-03T08:30:00Z", "2099-01-01T00:00:00Z",
        remote_addr="203.0.113.99", user_agent=SAFARI_IPHONE, logged_out=True,
    ),
]  # fmt: skip


def _seen(at: int, ip: str, user_agent: str) -> dict[str, Any]:
    return {"at": at, "remote_ip": ip, "user_agent": user_agent}


def _prefactor(
    native_id: str, device: str, status: str, identity: str | None, **rest: Any
) -> dict[str, Any]:
    return {
        "type": "session",
        "id": native_id,
        "account_id": ACCOUNT,
        "domain_id": DOMAIN,
        "pool_id": POOL,
        "device_id": device,
        "authenticated_identity_id": identity,
        "session_type": "browser",
        "status": status,
        **rest,
    }


PREFACTOR: list[dict[str, Any]] = [
    _prefactor(
        F1, "01jjzcx8003nqk8n2zs9zs2gnsy6e4bk", "authenticated", CAROL, title="Safari on macOS",
        first_seen=_seen(1740830400, "203.0.113.20", SAFARI_MAC),
        last_seen=_seen(1740834000, "203.0.113.20", SAFARI_MAC),
    ),
    _prefactor(
        F2, "01jk1z9z003nqk8nn974je4vkwjdnpy1", "new", None, title="",
        first_seen=_seen(1740906900, "192.0.2.50", CURL), last_seen=None,
    ),
    _prefactor(
        F3, "01jk4hpp003nqk8nt4a26w1jp0apee1d", "revoked", CAROL, title="Chrome on Windows",
        first_seen=_seen(1741106730, "198.51.100.30", CHROME_WINDOWS),
        last_seen=_seen(1741110330, "198.51.100.30", CHROME_WINDOWS),
    ),
]  # fmt: skip

_DAVE = {
    "id": DAVE,
    "loginName": "dave@example.com",
    "displayName": "Dave Doe",
    "organizationId": ZITADEL_ORG,
}


def _zitadel_agent(ip: str, user_agent: str, description: str) -> dict[str, Any]:
    return {
        "fingerprintId": "320000000000000001",
        "ip": ip,
        "description": description,
        "header": {"User-Agent": {"values": [user_agent]}},
    }


ZITADEL: list[dict[str, Any]] = [
    {
        "id": Z1,
        "creationDate": "2025-03-01T07:00:00.123456Z",
        "changeDate": "2025-03-01T07:00:05.123456Z",
        "sequence": "3",
        "factors": {
            "user": {**_DAVE, "verifiedAt": "2025-03-01T07:00:00.100Z"},
            "password": {"verifiedAt": "2025-03-01T07:00:05.100Z"},
        },
        "userAgent": _zitadel_agent("203.0.113.40", SAFARI_MAC, "Safari on macOS"),
        "expirationDate": "2099-01-01T00:00:00Z",
    },
    {
        "id": Z2,
        "creationDate": "2025-03-03T11:11:11.5Z",
        "changeDate": "2025-03-03T11:11:11.5Z",
        "sequence": "1",
        "userAgent": _zitadel_agent("192.0.2.77", PYTHON, "python-requests"),
    },
    {
        "id": Z3,
        "creationDate": "2025-03-05T06:00:00Z",
        "changeDate": "2025-03-05T06:00:02Z",
        "sequence": "2",
        "factors": {"user": {**_DAVE, "verifiedAt": "2025-03-05T06:00:00Z"}},
        "userAgent": _zitadel_agent("2001:db8::5", CHROME_ANDROID, "Chrome on Android"),
        "expirationDate": "2025-03-05T18:00:00Z",
    },
]


def _hyperid_agent(
    name: str, device: str, device_type: int, os_type: int, browser: str
) -> dict[str, Any]:
    return {
        "name": name,
        "deviceName": device,
        "deviceType": device_type,
        "osType": os_type,
        "osVersion": "",
        "browserName": browser,
        "browserVersion": "",
    }


def _hyperid(session_id: int, ip: str, created: str, **rest: Any) -> dict[str, Any]:
    return {
        "sessionID": session_id,
        "hostName": "bit.pub",
        "ipAddress": ip,
        "creationTime": created,
        **rest,
        "identityProviderID": 1,
        "protectionLevel": 1,
        "requireConfirmation": False,
        "isOneShot": False,
        "siteAuthorizations": [],
    }


HYPERID: list[dict[str, Any]] = [
    _hyperid(
        H1, "203.0.113.60", "2025-03-01T15:30:00.000Z",
        expirationTime="2099-01-01T00:00:00.000Z",
        userAgent=_hyperid_agent("Chrome 126 on Windows", "PC", 1, 1, "Chrome"),
    ),
    _hyperid(  # the same second as PrivX's P2: the global id breaks the tie
        H2, "198.51.100.60", "2025-03-02T10:00:00.000Z",
        userAgent=_hyperid_agent("Mobile Safari 17 on iOS", "iPhone", 2, 4, "Mobile Safari"),
    ),
    _hyperid(
        H3, "192.0.2.61", "2025-03-04T20:00:00.000Z", expirationTime="2025-03-05T20:00:00.000Z",
        userAgent=_hyperid_agent("Firefox 126 on Linux", "PC", 1, 3, "Firefox"),
    ),
]  # fmt: skip


def small_world() -> MockData:
    """The world above, a fresh copy each time (mocks change their data on revoke)."""
    return MockData(
        privx=copy.deepcopy(PRIVX),
        prefactor=copy.deepcopy(PREFACTOR),
        prefactor_pool_ids=[POOL],
        zitadel=copy.deepcopy(ZITADEL),
        hyperid_sessions=copy.deepcopy(HYPERID),
        hyperid_app_authorizations=[],
        privx_token_user_id=ALICE,
        zitadel_caller_id="330000000000000001",
        zitadel_instance_id="280000000000000001",
    )


class Expected(NamedTuple):
    """A session as the gateway must show it."""

    provider: str
    native_id: str
    status: str
    created_at: str


# Every session, newest first (the default order): creation times as written above; P2 and H2
# were created in the same second, and global ids (base32hex of "S:<PROVIDER>:<id>", which
# keeps byte order) put HYPERID before PRIVX, so newest first P2 comes first.
NEWEST_FIRST = [
    Expected("ZITADEL", Z3, "EXPIRED", "2025-03-05T06:00:00+00:00"),
    Expected("HYPERID", str(H3), "EXPIRED", "2025-03-04T20:00:00+00:00"),
    Expected("PREFACTOR", F3, "REVOKED", "2025-03-04T16:45:30.500000+00:00"),
    Expected("ZITADEL", Z2, "PENDING", "2025-03-03T11:11:11.500000+00:00"),
    Expected("PRIVX", P3, "LOGGED_OUT", "2025-03-03T08:30:00+00:00"),
    Expected("PRIVX", P2, "EXPIRED", "2025-03-02T10:00:00+00:00"),
    Expected("HYPERID", str(H2), "ACTIVE", "2025-03-02T10:00:00+00:00"),
    Expected("PREFACTOR", F2, "PENDING", "2025-03-02T09:15:00.250000+00:00"),
    Expected("HYPERID", str(H1), "ACTIVE", "2025-03-01T15:30:00+00:00"),
    Expected("PREFACTOR", F1, "ACTIVE", "2025-03-01T12:00:00+00:00"),
    Expected("PRIVX", P1, "ACTIVE", "2025-03-01T09:00:00+00:00"),
    Expected("ZITADEL", Z1, "ACTIVE", "2025-03-01T07:00:00.123456+00:00"),
]
SESSIONS = {(s.provider, s.native_id): s for s in NEWEST_FIRST}
