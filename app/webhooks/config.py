"""GATEWAY_WEBHOOKS: the endpoints that receive session events, parsed and checked at start-up.

The value is a JSON list of `{"url", "secret", "events", "filter"}`. Every problem names the
entry (its position and its URL without query string or credentials) and never the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.core import ids
from app.core.errors import BadUserInput
from app.core.records import Provider
from app.listing.filter import SessionFilter, parse_network

EVENTS = ("session.created", "session.updated", "session.ended")
# Endpoints per gateway: each distinct filter is one organisation-wide watch.
MAX_ENDPOINTS = 20
MAX_FILTER_USERS = 100
# The Standard Webhooks specification's bounds for a symmetric secret, in bytes.
SECRET_BYTES = (24, 64)
SECRET_PREFIX = "whsec_"
FILTER_KEYS = ("providers", "userIds", "users", "remoteAddress", "userAgent")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One webhook receiver; `key` names it in metrics, logs and Redis (a digest of its URL)."""

    url: str
    secret: str  # the whsec_ form; never logged (see __repr__)
    events: frozenset[str]
    session_filter: SessionFilter

    def __repr__(self) -> str:
        return f"Endpoint({self.shown!r})"

    @property
    def key(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()[:12]

    @property
    def identity(self) -> str:
        """A digest of the URL and the secret: a 410's record in Redis holds it, so that a
        new URL or secret enables the endpoint again (the secret itself is never stored)."""
        secret = hashlib.sha256(self.secret.encode()).hexdigest()
        return hashlib.sha256(f"{self.url}\n{secret}".encode()).hexdigest()

    @property
    def shown(self) -> str:
        """The URL as logs show it: no credentials, no query string (either may hold a token)."""
        return shown_url(self.url)


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """The endpoints of a GATEWAY_WEBHOOKS value; ValueError names the first bad entry."""
    text = text.strip()
    if not text:
        return ()
    try:
        entries = json.loads(text)
    except ValueError:
        raise ValueError(
            'must be a JSON list of {"url", "secret", "events", "filter"} objects'
        ) from None
    if not isinstance(entries, list):
        raise ValueError('must be a JSON list of {"url", "secret", "events", "filter"} objects')
    if len(entries) > MAX_ENDPOINTS:
        raise ValueError(f"takes at most {MAX_ENDPOINTS} endpoints, got {len(entries)}")
    endpoints: list[Endpoint] = []
    for index, entry in enumerate(entries):
        endpoint = _entry(index, entry)
        if any(e.url == endpoint.url for e in endpoints):
            raise ValueError(f"entry {index} ({endpoint.shown}): the URL is listed twice")
        endpoints.append(endpoint)
    return tuple(endpoints)


def _entry(index: int, entry: object) -> Endpoint:
    if not isinstance(entry, dict):
        raise ValueError(f"entry {index}: must be an object with url, secret, events, filter")
    url = entry.get("url")
    name = f"entry {index}"
    if not isinstance(url, str) or not _is_http_url(url):
        raise ValueError(f"{name}: `url` must be an absolute http:// or https:// URL")
    name = f"entry {index} ({shown_url(url)})"
    unknown = sorted(set(entry) - {"url", "secret", "events", "filter"})
    if unknown:
        raise ValueError(f"{name}: unknown key {unknown[0]!r} (url, secret, events, filter)")
    secret = entry.get("secret")
    if not isinstance(secret, str) or not _is_secret(secret):
        raise ValueError(
            f"{name}: `secret` must be whsec_ followed by the base64 of "
            f"{SECRET_BYTES[0]} to {SECRET_BYTES[1]} random bytes"
        )
    events = entry.get("events", list(EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValueError(f"{name}: `events` must be a non-empty list of {', '.join(EVENTS)}")
    for event in events:
        if event not in EVENTS:
            raise ValueError(f"{name}: unknown event {event!r} (known: {', '.join(EVENTS)})")
    try:
        session_filter = _filter(entry.get("filter") or {})
    except (ValueError, BadUserInput) as exc:
        raise ValueError(f"{name}: `filter`: {exc}") from None
    return Endpoint(url, secret, frozenset(events), session_filter)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def _is_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    return SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]


def _filter(value: Any) -> SessionFilter:
    """A SessionFilterInput-like object: providers, userIds, users, remoteAddress, userAgent."""
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    unknown = sorted(set(value) - set(FILTER_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(FILTER_KEYS)})")
    providers = None
    if "providers" in value:
        names = value["providers"]
        if not isinstance(names, list) or not names:
            raise ValueError("`providers` must be a non-empty list of provider names")
        known = {p.value: p for p in Provider}
        for provider in names:
            if provider not in known:
                raise ValueError(f"unknown provider {provider!r} (known: {', '.join(known)})")
        providers = frozenset(known[p] for p in names)
    users = None
    if "userIds" in value or "users" in value:
        pairs = [ids.decode_as(ids.USER, str(i)) for i in _list(value, "userIds")]
        for user in _list(value, "users"):
            if not isinstance(user, dict) or set(user) != {"provider", "nativeId"}:
                raise ValueError('`users` entries are {"provider", "nativeId"}')
            provider = {p.value: p for p in Provider}.get(user["provider"])
            native = user["nativeId"]
            if provider is None or not isinstance(native, str) or not native.strip():
                raise ValueError("`users` entries need a known provider and a nativeId")
            pairs.append((provider, native))
        if len(pairs) > MAX_FILTER_USERS:
            raise ValueError(f"at most {MAX_FILTER_USERS} users")
        users = frozenset(pairs)
    network = None
    if "remoteAddress" in value:
        if not isinstance(value["remoteAddress"], str):
            raise ValueError("`remoteAddress` must be an IP address or CIDR network")
        network = parse_network(value["remoteAddress"])
    agent = None
    if "userAgent" in value:
        agent = value["userAgent"]
        if not isinstance(agent, str) or not agent.strip():
            raise ValueError("`userAgent` must be non-empty text")
        agent = agent.strip()
    return SessionFilter(providers=providers, users=users, remote_address=network, user_agent=agent)


def _list(value: dict[str, Any], key: str) -> list[Any]:
    found = value.get(key, [])
    if not isinstance(found, list):
        raise ValueError(f"`{key}` must be a list")
    return found
