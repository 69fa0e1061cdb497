"""Normalised, provider-neutral records that adapters produce and resolvers read."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from app.core.errors import UpstreamError

T = TypeVar("T")


class Provider(enum.Enum):
    """The upstream session APIs the gateway knows, in schema order.

    The members are the registry's (app/upstream/registry.py): the built-in provider packages,
    named here so that code can spell them, then those from outside this tree, each added by
    its package with `Provider.add` when the registry loads it.
    """

    PRIVX = "PRIVX"
    PREFACTOR = "PREFACTOR"
    ZITADEL = "ZITADEL"
    HYPERID = "HYPERID"
    KRATOS = "KRATOS"

    @classmethod
    def add(cls, name: str) -> Provider:
        """A new member `name` (its value too), after the others: for a provider package from
        outside this tree, before anything reads the enum (the schema, the settings)."""
        if not name.isidentifier() or not name.isupper() or name in cls._member_map_:
            raise ValueError(f"{name!r} is not a new upper-case provider name")
        # What building the class fills in for each member (the enum module of CPython 3.11).
        member = object.__new__(cls)
        member._name_ = member._value_ = name
        member.__objclass__ = cls  # type: ignore[attr-defined]
        member._sort_order_ = len(cls._member_names_)  # type: ignore[attr-defined]
        type.__setattr__(cls, name, member)
        cls._member_map_[name] = member
        cls._member_names_.append(name)
        cls._value2member_map_[name] = member
        return member


class SessionStatus(enum.Enum):
    """One status vocabulary for every provider; each adapter documents its mapping."""

    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    LOGGED_OUT = "LOGGED_OUT"
    REVOKED = "REVOKED"
    PENDING = "PENDING"


class RevokeOutcome(enum.Enum):
    """What an upstream said to "end this session"."""

    REVOKED = "REVOKED"
    NOT_FOUND = "NOT_FOUND"
    REFUSED = "REFUSED"  # e.g. Prefactor: already complete or revoked


class AuthorizationKind(enum.Enum):
    """What a hyper.id authorization grants access to."""

    SITE = "SITE"
    APP = "APP"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """The user a session belongs to, as far as its provider tells."""

    provider: Provider
    native_id: str
    login_name: str | None = None
    display_name: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserAgentRecord:
    """What the upstream says about the client; raw strings are parsed lazily by resolvers."""

    raw: str | None = None
    ip: str | None = None
    fingerprint_id: str | None = None
    # The provider's own id of the client device (Prefactor's `device_id`): a fingerprint too.
    device_id: str | None = None
    description: str | None = None
    browser_name: str | None = None
    browser_version: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    device_name: str | None = None


@dataclass(frozen=True, slots=True)
class FactorRecord:
    """One verified authentication factor."""

    verified_at: datetime | None
    user_verified: bool | None = None


@dataclass(frozen=True, slots=True)
class FactorsRecord:
    """ZITADEL's checked factors; an absent factor was not checked."""

    user: FactorRecord | None = None
    password: FactorRecord | None = None
    web_auth_n: FactorRecord | None = None
    intent: FactorRecord | None = None
    totp: FactorRecord | None = None
    otp_sms: FactorRecord | None = None
    otp_email: FactorRecord | None = None
    recovery_code: FactorRecord | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    """A hyper.id site or app authorization."""

    kind: AuthorizationKind
    native_id: str
    created_at: datetime | None
    expires_at: datetime | None
    scope_id: int | None
    site_name: str | None = None
    site_domain: str | None = None
    app_hardware_name: str | None = None
    app_user_name: str | None = None


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    """One key/value pair; ZITADEL values are bytes, kept as the base64 text it sends."""

    key: str
    value_base64: str


class Extras:
    """Base of a provider's own session fields, declared in its package (records.py)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session of one provider, normalised; `global_id` and `created_at` order the merge."""

    provider: Provider
    native_id: str
    global_id: str
    status: SessionStatus
    created_at: datetime
    extras: Extras
    user: UserRecord | None = None
    updated_at: datetime | None = None
    last_seen_at: datetime | None = None
    expires_at: datetime | None = None
    token_expires_at: datetime | None = None
    remote_address: str | None = None
    user_agent: UserAgentRecord | None = None
    factors: FactorsRecord | None = None
    parent_native_id: str | None = None
    authorizations: Sequence[AuthorizationRecord] = ()
    metadata: tuple[MetadataEntry, ...] = field(default=())

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """Position in the merged order: creation time, ties broken by global id."""
        return (self.created_at, self.global_id)


class Deferred(Sequence[T], Generic[T]):
    """Items made from a raw upstream JSON list when first read: most queries never ask for them.

    `make` turns the raw list into the items and raises the gateway error for a bad shape,
    which then fails the field that reads them rather than the whole listing. It runs at most
    once: a failure is kept and raised again to every later reader. Equality compares the raw
    JSON, so records parsed from the same answer are equal, and nothing here forces a parse.
    """

    __slots__ = ("_error", "_items", "_make", "_raw")

    def __init__(self, raw: list[Any], make: Callable[[list[Any]], tuple[T, ...]]) -> None:
        self._raw = raw
        self._make = make
        self._items: tuple[T, ...] | None = None
        self._error: Exception | None = None

    def _all(self) -> tuple[T, ...]:
        if self._items is None:
            if self._error is not None:
                raise _frameless(self._error)
            try:
                self._items = self._make(self._raw)
            except Exception as exc:
                self._error = _frameless(exc)
                raise
        return self._items

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[T]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Deferred):
            return bool(self._make is other._make and self._raw == other._raw)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(len(self._raw))  # equal raw lists have equal lengths

    def __repr__(self) -> str:
        return f"Deferred({len(self._raw)} raw items)"


def _frameless(error: Exception) -> Exception:
    """A twin of `error` that holds no reader's frames, for each reader to raise: records live
    across requests (upstream/kept.py), and a raised error keeps the frames it passed through
    (the reader's context and request among them)."""
    if isinstance(error, UpstreamError):
        return type(error)(str(error), provider=error.provider, details=dict(error.details))
    return error.with_traceback(None)  # not a gateway error: a bug, re-raised as it is
