"""Fixed pools the mock data is drawn from: names, User-Agent strings, documentation IPs."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "USER_AGENTS",
    "UserAgent",
    "random_ip",
    "random_ipv4",
]

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Farid", "Grace", "Hiroshi", "Isabel", "Jonas",
    "Kateřina", "Liam", "Maya", "Noah", "Olivia", "Pedro", "Quinn", "Renée", "Sofia", "Tomás",
    "Uma", "Victor", "Wei", "Ximena", "Yusuf", "Zoë", "Amara", "Björn", "Chloé", "Dmitri",
    "Elif", "Finn", "Gabriela", "Hannah", "Ivan", "Jamal", "Keiko", "Lucas", "Mei", "Nadia",
    "Oscar", "Priya", "Rafael", "Sanna", "Theo",
)  # fmt: skip

LAST_NAMES = (
    "Doe", "Smith", "Johnson", "García", "Müller", "Nguyen", "Kowalski", "Okafor", "Tanaka",
    "Rossi", "Novák", "Andersson", "Martin", "Silva", "Kim", "Patel", "O'Brien", "Dubois",
    "Hernández", "Virtanen", "Yilmaz", "Costa", "Schmidt", "Chen", "Ivanova", "Haddad",
    "Jensen", "López", "Brown", "Wilson", "Fischer", "Moreau", "Sato", "Khan", "Lindqvist",
)  # fmt: skip

DESKTOP, MOBILE, TABLET, BOT, CLIENT = "desktop", "mobile", "tablet", "bot", "client"


@dataclass(frozen=True, slots=True)
class UserAgent:
    """A real-world User-Agent string and what a parser would make of it."""

    header: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    kind: str

    @property
    def title(self) -> str:
        """Short label such as `Chrome on macOS`."""
        return f"{self.browser} on {self.os}" if self.os else self.browser

    @property
    def interactive(self) -> bool:
        """Whether a person at a browser sends this User-Agent."""
        return self.kind in {DESKTOP, MOBILE, TABLET}


def _ua(header: str, browser: str, version: str, os: str, os_version: str, device: str,
        kind: str = DESKTOP) -> UserAgent:  # fmt: skip
    return UserAgent(header, browser, version, os, os_version, device, kind)


_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"

USER_AGENTS = (
    _ua(f"{_WIN} {_WEBKIT} Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124.0.0.0", "Windows", "10", "PC"),
    _ua(f"{_WIN} {_WEBKIT} Chrome/126.0.0.0 Safari/537.36",
        "Chrome", "126.0.0.0", "Windows", "10", "PC"),
    _ua(f"{_MAC} {_WEBKIT} Chrome/125.0.0.0 Safari/537.36",
        "Chrome", "125.0.0.0", "macOS", "10.15.7", "Mac"),
    _ua(f"Mozilla/5.0 (X11; Linux x86_64) {_WEBKIT} Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124.0.0.0", "Linux", "", "PC"),
    _ua(f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {_WEBKIT} Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124.0.0.0", "ChromeOS", "14541.0.0", "Chromebook"),
    _ua("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
        "Firefox", "126.0", "Windows", "10", "PC"),
    _ua("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:126.0) Gecko/20100101 Firefox/126.0",
        "Firefox", "126.0", "macOS", "14.5", "Mac"),
    _ua("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox", "125.0", "Ubuntu", "", "PC"),
    _ua(f"{_MAC} {_SAFARI} Version/17.4.1 Safari/605.1.15",
        "Safari", "17.4.1", "macOS", "10.15.7", "Mac"),
    _ua(f"{_WIN} {_WEBKIT} Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        "Edge", "124.0.2478.80", "Windows", "10", "PC"),
    _ua(f"{_MAC} {_WEBKIT} Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.51",
        "Edge", "125.0.2535.51", "macOS", "10.15.7", "Mac"),
    _ua(f"{_WIN} {_WEBKIT} Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
        "Opera", "110.0.0.0", "Windows", "10", "PC"),
    _ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) "
        f"{_SAFARI} Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "17.4.1", "iOS", "17.4.1", "iPhone", MOBILE),
    _ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
        f"{_SAFARI} CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
        "Chrome Mobile iOS", "125.0.6422.80", "iOS", "17.5", "iPhone", MOBILE),
    _ua("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) "
        f"{_SAFARI} Version/17.5 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "17.5", "iOS", "17.5", "iPad", TABLET),
    _ua(f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} "
        "Chrome/124.0.6367.179 Mobile Safari/537.36",
        "Chrome Mobile", "124.0.6367.179", "Android", "14", "Pixel 8", MOBILE),
    _ua(f"Mozilla/5.0 (Linux; Android 10; K) {_WEBKIT} Chrome/125.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile", "125.0.0.0", "Android", "10", "Android phone", MOBILE),
    _ua(f"Mozilla/5.0 (Linux; Android 14; SM-S918B) {_WEBKIT} SamsungBrowser/25.0 "
        "Chrome/121.0.0.0 Mobile Safari/537.36",
        "Samsung Internet", "25.0", "Android", "14", "Galaxy S23 Ultra", MOBILE),
    _ua("Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0",
        "Firefox Mobile", "126.0", "Android", "14", "Android phone", MOBILE),
    _ua("Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) PowerShell/7.4.2",
        "PowerShell", "7.4.2", "Windows", "10", "PC", CLIENT),
    _ua("curl/8.7.1", "curl", "8.7.1", "", "", "", CLIENT),
    _ua("python-requests/2.32.3", "python-requests", "2.32.3", "", "", "", CLIENT),
    _ua("python-httpx/0.27.0", "python-httpx", "0.27.0", "", "", "", CLIENT),
    _ua("okhttp/4.12.0", "okhttp", "4.12.0", "", "", "", CLIENT),
    _ua("Go-http-client/2.0", "Go-http-client", "2.0", "", "", "", CLIENT),
    _ua("PostmanRuntime/7.39.0", "PostmanRuntime", "7.39.0", "", "", "", CLIENT),
    _ua("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "2.1", "", "", "", BOT),
)  # fmt: skip


def random_ipv4(rng: random.Random) -> str:
    """An address from one of the three IPv4 documentation ranges (RFC 5737)."""
    prefix = rng.choice(("203.0.113", "198.51.100", "192.0.2"))
    return f"{prefix}.{rng.randint(1, 254)}"


def random_ip(rng: random.Random, ipv6_share: float = 0.1) -> str:
    """A documentation address (RFC 5737 or RFC 3849), IPv6 with probability `ipv6_share`."""
    if rng.random() < ipv6_share:
        groups = ":".join(f"{rng.randint(1, 0xFFFF):x}" for _ in range(2))
        return f"2001:db8:{rng.randint(0, 0xFF):x}::{groups}"
    return random_ipv4(rng)
