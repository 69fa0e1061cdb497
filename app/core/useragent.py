"""Raw User-Agent strings parsed into browser, OS and device (uap-core rules, cached)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse


class DeviceType(enum.Enum):
    """A coarse device class for "your sessions" views."""

    DESKTOP = "DESKTOP"
    MOBILE = "MOBILE"
    TABLET = "TABLET"
    BOT = "BOT"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class ParsedAgent:
    """What a raw User-Agent string says; None where it says nothing."""

    browser_name: str | None
    browser_version: str | None
    os_name: str | None
    os_version: str | None
    device_name: str | None
    device_type: DeviceType


_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"}
_DESKTOP_OS = {
    "Windows",
    "Mac OS X",
    "macOS",
    "Linux",
    "Ubuntu",
    "Fedora",
    "Debian",
    "Chrome OS",
    "ChromeOS",
    "FreeBSD",
}
_TABLETS = {"iPad", "Kindle", "Generic Tablet"}


def _version(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    return ".".join(present) or None


def _known(family: str | None) -> str | None:
    return None if family in (None, "Other") else family


def _device_type(raw: str, os_name: str | None, device: str | None) -> DeviceType:
    if device == "Spider":
        return DeviceType.BOT
    if device in _TABLETS or (device and "Tablet" in device):
        return DeviceType.TABLET
    if os_name == "Android" and "Mobile" not in raw:
        return DeviceType.TABLET
    if os_name in _MOBILE_OS or "Mobile" in raw:
        return DeviceType.MOBILE
    if os_name is not None and (os_name in _DESKTOP_OS or os_name.startswith("Windows")):
        return DeviceType.DESKTOP
    return DeviceType.OTHER


@lru_cache(maxsize=4096)
def parse_agent(raw: str) -> ParsedAgent:
    """Parse one User-Agent header value; the same strings recur, so results are cached."""
    result = parse(raw)
    agent, system, device = result.user_agent, result.os, result.device
    os_name = _known(system.family) if system else None
    device_name = _known(device.family) if device else None
    return ParsedAgent(
        browser_name=_known(agent.family) if agent else None,
        browser_version=_version(agent.major, agent.minor, agent.patch) if agent else None,
        os_name=os_name,
        os_version=_version(system.major, system.minor, system.patch) if system else None,
        device_name=device_name,
        device_type=_device_type(raw, os_name, device_name),
    )
