"""hyper.id `SessionInfo` and `AppAutorizationInfo` objects of the one logged-in user."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from app.mocks.catalog import DESKTOP, MOBILE, TABLET, UserAgent, random_ip
from app.mocks.timestamps import iso_millis
from app.mocks.world import Person

__all__ = ["hyperid_app_authorizations", "hyperid_sessions"]

# Numeric codes are unconfirmed upstream; these follow the reference sample (Mac: 1 and 2).
_DEVICE_TYPES = {DESKTOP: 1, MOBILE: 2, TABLET: 3}
_OS_TYPES = {"Windows": 1, "macOS": 2, "Linux": 3, "Ubuntu": 3, "iOS": 4, "Android": 5,
             "ChromeOS": 6}  # fmt: skip
_SITES = (
    ("bit.pub", "bit.pub"), ("Bit.Pub Forum", "forum.bit.pub"), ("Bit.Pub Docs", "docs.bit.pub"),
    ("Hyper Notes", "notes.example.com"), ("Status board", "status.example.org"),
)  # fmt: skip
_APP_DEVICES = ("Pixel 8", "iPhone 15 Pro", "MacBook Air (M2)", "Galaxy S24", "ThinkPad X1 Carbon",
                "iPad Air", "Surface Pro 9")  # fmt: skip


def _user_agent_info(user_agent: UserAgent) -> dict[str, Any]:
    major = user_agent.browser_version.split(".")[0]
    return {
        "name": f"{user_agent.browser} {major} on {user_agent.os}",
        "deviceName": user_agent.device,
        "deviceType": _DEVICE_TYPES.get(user_agent.kind, 0),
        "osType": _OS_TYPES.get(user_agent.os, 0),
        "osVersion": user_agent.os_version,
        "browserName": user_agent.browser,
        "browserVersion": user_agent.browser_version,
    }


def _site_authorization(rng: random.Random, created: datetime, auth_id: int) -> dict[str, Any]:
    name, domain = rng.choice(_SITES)
    granted = created + timedelta(seconds=rng.randint(2, 3600))
    grant: dict[str, Any] = {
        "siteName": name,
        "siteDomain": domain,
        "authorizationID": auth_id,
        "creationTime": iso_millis(granted),
    }
    if rng.random() < 0.8:
        grant["expirationTime"] = iso_millis(granted + timedelta(days=30))
    grant["scopeID"] = rng.randint(1, 3)
    return grant


def hyperid_sessions(
    rng: random.Random, user: Person, now: datetime, count: int
) -> list[dict[str, Any]]:
    """Draw `count` sessions with bit.pub of `user`, oldest first."""
    devices = [d for d in user.devices if d.user_agent.interactive] or list(user.devices)
    session_id = rng.randint(8_000_000, 8_900_000)
    auth_id = rng.randint(5_500_000, 5_600_000)
    starts = sorted(
        now - timedelta(seconds=rng.randint(60, 30 * 86_400), milliseconds=rng.randint(0, 999))
        for _ in range(count)
    )
    sessions = []
    for index, created in enumerate(starts):
        session_id += rng.randint(1, 40_000)
        device = rng.choice(devices)
        one_shot = rng.random() < 0.1
        info: dict[str, Any] = {
            "sessionID": session_id,
            "hostName": "bit.pub",
            "ipAddress": device.ip if rng.random() < 0.7 else random_ip(rng, ipv6_share=0.2),
            "creationTime": iso_millis(created),
        }
        if index != 1 and rng.random() < 0.88:  # The second one, at least, never expires.
            lifetime = timedelta(minutes=15) if one_shot else timedelta(days=rng.choice((1, 7, 30)))
            info["expirationTime"] = iso_millis(created + lifetime)
        info["identityProviderID"] = rng.choice((1, 1, 1, 2, 3, 5))
        if rng.random() < 0.15:
            info["restrictToSiteID"] = rng.randint(1001, 1099)
        info |= {
            "protectionLevel": rng.choice((0, 1, 1, 2, 3)),
            "requireConfirmation": rng.random() < 0.15,
            "isOneShot": one_shot,
            "userAgent": _user_agent_info(device.user_agent),
            "siteAuthorizations": [],
        }
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            auth_id += rng.randint(1, 900)
            info["siteAuthorizations"].append(_site_authorization(rng, created, auth_id))
        sessions.append(info)
    return sessions


def hyperid_app_authorizations(
    rng: random.Random, user: Person, now: datetime
) -> list[dict[str, Any]]:
    """Draw 3 to 5 application authorizations granted by `user`."""
    grants = []
    auth_id = rng.randint(5_600_000, 5_700_000)
    for hardware in rng.sample(_APP_DEVICES, rng.randint(3, 5)):
        auth_id += rng.randint(1, 5000)
        created = now - timedelta(seconds=rng.randint(3600, 60 * 86_400))
        grant: dict[str, Any] = {
            "appHardwareName": hardware,
            "appUserName": user.username,
            "authorizationID": auth_id,
            "creationTime": iso_millis(created),
        }
        if rng.random() < 0.5:
            grant["expirationTime"] = iso_millis(created + timedelta(days=90))
        grant["scopeID"] = rng.randint(1, 3)
        grants.append(grant)
    return grants
