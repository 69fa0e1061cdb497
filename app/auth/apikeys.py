"""API keys: configured as a JSON list (inline or in a file), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.auth.principal import Principal, UserKey
from app.errors import ConfigError
from app.ratelimit import parse_limit
from app.upstream.records import Provider

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    principal: Principal


def _users(value: Any, where: str) -> frozenset[UserKey]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ConfigError(f"GATEWAY_API_KEYS: {where}.users must be a list")
    users = []
    for user in value:
        try:
            provider, native_id = Provider(user["provider"]), str(user["id"]).strip()
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"GATEWAY_API_KEYS: {where}.users entries are "
                '{"provider": "<PROVIDER>", "id": "..."}'
            ) from None
        if not native_id:
            raise ConfigError(f"GATEWAY_API_KEYS: {where}.users has an empty id")
        users.append((provider, native_id))
    return frozenset(users)


class ApiKeyStore:
    """The accepted API keys, held as SHA-256 digests only."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, value: str) -> ApiKeyStore:
        """Parse GATEWAY_API_KEYS: a JSON list, or the path of a file holding one."""
        text = value.strip()
        if not text.startswith("["):
            try:
                text = Path(text).read_text()
            except OSError as exc:
                raise ConfigError(
                    f"GATEWAY_API_KEYS: not a JSON list, and no readable file at that path "
                    f"({exc.strerror})"
                ) from None
        try:
            raw = json.loads(text)
        except ValueError:
            raise ConfigError("GATEWAY_API_KEYS: not valid JSON") from None
        if not isinstance(raw, list) or not raw:
            raise ConfigError("GATEWAY_API_KEYS: must be a non-empty JSON list of keys")
        return cls([cls._entry(item, i) for i, item in enumerate(raw)])

    @staticmethod
    def _entry(item: Any, index: int) -> _Entry:
        where = f"[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"GATEWAY_API_KEYS: {where} needs a string `name`")
        if isinstance(item.get("key"), str) and item["key"]:
            digest = hashlib.sha256(item["key"].encode()).digest()
        elif isinstance(item.get("key_sha256"), str) and _HEX64.match(item["key_sha256"].lower()):
            digest = bytes.fromhex(item["key_sha256"])
        else:
            raise ConfigError(
                f"GATEWAY_API_KEYS: {where} needs `key`, or `key_sha256` (64 hex digits)"
            )
        scopes = item.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ConfigError(f"GATEWAY_API_KEYS: {where}.scopes must be a list of strings")
        rate_limit = item.get("rateLimit")
        if rate_limit is not None:
            if not isinstance(rate_limit, str):
                raise ConfigError(f"GATEWAY_API_KEYS: {where}.rateLimit must be a string")
            parse_limit(rate_limit, f"GATEWAY_API_KEYS: {where}.rateLimit")
        principal = Principal(
            name=item["name"],
            scopes=frozenset(scopes),
            users=_users(item.get("users"), where),
            rate_limit=rate_limit,
        )
        return _Entry(digest, principal)

    def find(self, key: str) -> Principal | None:
        """The principal of `key`; every entry is compared, in constant time, whatever matches."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found
