"""GeoDatabase: one MaxMind-format file, memory-mapped, re-opened when it changes on disk.

Operators replace these files weekly. A lookup checks the file's identity (inode, size,
modification time) at most once per `check_every` seconds and opens a changed file before
using it, so no request fails and nothing restarts. A replacement that cannot be opened
leaves the open database in use, logs one ERROR line per bad version and counts it in
`gateway_geoip_reload_failures_total`. Replace a file by renaming a complete new one over it:
writing into the mapped file in place can fault the readers that have it mapped.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import maxminddb
from prometheus_client import CollectorRegistry, Counter

from app.core.errors import ConfigError

log = logging.getLogger("session_gateway.geo")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Identity = tuple[int, int, int, int]  # device, inode, size, modification time (ns)

CHECK_EVERY = 1.0  # seconds between looks at the file


class ReloadFailures:
    """The counter of replacements that could not be opened, by variable."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._counter = Counter(
            "gateway_geoip_reload_failures",
            "Changed GeoIP database files that could not be opened (the previous one stays "
            "in use), by setting.",
            ["variable"],
            registry=registry or CollectorRegistry(),
        )

    def count(self, variable: str) -> None:
        self._counter.labels(variable).inc()


def _identity(path: str) -> Identity:
    found = os.stat(path)
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _open(path: str) -> maxminddb.Reader:
    # MODE_AUTO: the C extension over a memory map where installed, else the pure-Python
    # reader over a memory map; either way the file is mapped, not read into memory.
    return maxminddb.open_database(path, maxminddb.MODE_AUTO)


class GeoDatabase:
    """A MaxMind DB file named by `variable` (for messages), kept current with the file."""

    def __init__(
        self,
        path: str,
        variable: str,
        reader: maxminddb.Reader,
        identity: Identity,
        *,
        failures: ReloadFailures | None = None,
        check_every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.variable = variable
        self._reader = reader
        self._identity = identity
        self._failed: Identity | None = None  # the bad version already reported
        self._failures = failures
        self._check_every = check_every
        self._clock = clock
        self._next_check = clock() + check_every
        self.generation = 0  # counts re-opens, for what callers cache

    @classmethod
    def open(
        cls,
        path: str,
        variable: str,
        *,
        failures: ReloadFailures | None = None,
        check_every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> GeoDatabase:
        """Open `path` or raise ConfigError naming `variable`: a typo in a path must stop
        start-up, not silently turn locations off."""
        try:
            identity = _identity(path)
            reader = _open(path)
        except (OSError, ValueError) as exc:  # InvalidDatabaseError is a RuntimeError
            raise ConfigError(f"{variable}: cannot open {path!r}: {_reason(exc)}") from None
        except maxminddb.InvalidDatabaseError as exc:
            raise ConfigError(f"{variable}: {path!r} is not a MaxMind DB file: {exc}") from None
        return cls(
            path,
            variable,
            reader,
            identity,
            failures=failures,
            check_every=check_every,
            clock=clock,
        )

    @property
    def database_type(self) -> str:
        return str(self._reader.metadata().database_type)

    def check(self) -> None:
        """Look at the file if it is time to (a clock read otherwise); before every lookup."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._check_every
            self.refresh()

    def get(self, address: Address) -> Mapping[str, Any] | None:
        """The record of the network holding `address`, or None when the file has none."""
        try:
            found = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only file
            return None
        return found if isinstance(found, Mapping) else None

    def refresh(self) -> bool:
        """Re-open the file if it changed; True when a new version is now in use."""
        try:
            identity = _identity(self.path)
        except OSError as exc:
            self._report(None, exc)
            return False
        if identity == self._identity or identity == self._failed:
            return False
        try:
            reader = _open(self.path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self._report(identity, exc)
            return False
        old, self._reader = self._reader, reader
        self._identity, self._failed = identity, None
        self.generation += 1
        old.close()  # lookups are synchronous: none is using it now
        log.info("%s: re-opened %s", self.variable, self.path)
        return True

    def _report(self, identity: Identity | None, exc: Exception) -> None:
        key = identity or (0, 0, 0, 0)  # a missing file is one bad version until it returns
        if key == self._failed:
            return
        self._failed = key
        log.error(
            "%s: %s changed but cannot be opened (%s); still using the previous version",
            self.variable,
            self.path,
            _reason(exc),
        )
        if self._failures is not None:
            self._failures.count(self.variable)

    def close(self) -> None:
        self._reader.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
