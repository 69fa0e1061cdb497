"""API keys: configured as a JSON list (inline or in a file), compared in constant time.

A file is re-read when it changes on disk (a rotated Kubernetes Secret, an edited file), so
keys are added and removed without a restart; a file that no longer parses keeps the keys
loaded before and logs why (never a key).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from app.auth.principal import Principal, UserKey
from app.core.errors import ConfigError
from app.core.records import Provider
from app.state.ratelimit import parse_limit

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Requests look at the key file at most this often; live streams look at every re-check.
CHECK_EVERY = 1.0

log = logging.getLogger("session_gateway.auth")

# What tells a changed file apart: a replaced file (a Secret's symlink swap) has another
# inode; one edited in place another size or modification time.
_Signature = tuple[int, int, int, int]


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
    """The accepted API keys, held as SHA-256 digests only; from a file, kept up to date."""

    def __init__(
        self,
        entries: list[_Entry],
        path: str | None = None,
        signature: _Signature | None = None,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self._entries = entries
        self._path = path
        self._signature = signature
        self._check_every = check_every
        self._next_check = time.monotonic() + check_every
        self._lock = asyncio.Lock()

    @classmethod
    def load(cls, value: str, check_every: float = CHECK_EVERY) -> ApiKeyStore:
        """Parse GATEWAY_API_KEYS: a JSON list, or the path of a file holding one."""
        text = value.strip()
        if text.startswith("["):
            return cls(cls._parse(text))
        try:
            signature, content = _read(text)
        except OSError as exc:
            raise ConfigError(
                f"GATEWAY_API_KEYS: not a JSON list, and no readable file at that path "
                f"({exc.strerror})"
            ) from None
        return cls(cls._parse(content), text, signature, check_every)

    @classmethod
    def _parse(cls, text: str | bytes) -> list[_Entry]:
        try:
            raw = json.loads(text)
        except ValueError:
            raise ConfigError("GATEWAY_API_KEYS: not valid JSON") from None
        if not isinstance(raw, list) or not raw:
            raise ConfigError("GATEWAY_API_KEYS: must be a non-empty JSON list of keys")
        return [cls._entry(item, i) for i, item in enumerate(raw)]

    async def refresh(self, *, fresh: bool = False) -> None:
        """Re-read the key file if it changed: now if `fresh`, else at most every few seconds."""
        if self._path is None or (not fresh and time.monotonic() < self._next_check):
            return
        async with self._lock:
            self._next_check = time.monotonic() + self._check_every
            try:
                changed = _signature(os.stat(self._path)) != self._signature
            except OSError:
                changed = self._signature is not None  # gone: say so once, keep the keys
            if changed:
                await self._reload(self._path)

    async def _reload(self, path: str) -> None:
        try:
            signature, content = await asyncio.to_thread(_read, path)
        except OSError as exc:
            self._signature = None
            log.error(
                "GATEWAY_API_KEYS file %s cannot be read (%s); keeping the %d keys loaded before.",
                path,
                exc.strerror,
                len(self._entries),
            )
            return
        self._signature = signature  # a bad file is reported once, not at every check
        try:
            entries = self._parse(content)
        except ConfigError as exc:
            # The message names the entry and what is wrong with it, never a key.
            log.error("%s in %s; keeping the %d keys loaded before.", exc, path, len(self._entries))
            return
        self._entries = entries
        log.info("GATEWAY_API_KEYS file %s changed: %d keys now.", path, len(entries))

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


def _signature(stat: os.stat_result) -> _Signature:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _read(path: str) -> tuple[_Signature, bytes]:
    """The file's signature and content, from one open file (so they belong together)."""
    with open(path, "rb") as handle:
        return _signature(os.fstat(handle.fileno())), handle.read()
