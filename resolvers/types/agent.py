"""User agents, factors, authorizations and metadata: the parts of a session."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import strawberry

from app.core import ids
from app.core.errors import BadUserInput
from app.core.records import (
    AuthorizationRecord,
    FactorRecord,
    FactorsRecord,
    MetadataEntry,
    Provider,
    UserAgentRecord,
)
from app.core.useragent import ParsedAgent, parse_agent
from resolvers.types.enums import AuthorizationKind, DeviceType
from resolvers.types.pagination import MAX_PAGE_SIZE, PageInfo


@strawberry.type(
    description="The client of a session: structured where the upstream gives it so, "
    "otherwise parsed from the raw User-Agent header."
)
class UserAgent:
    record: strawberry.Private[UserAgentRecord]

    @property
    def _parsed(self) -> ParsedAgent | None:
        return parse_agent(self.record.raw) if self.record.raw else None

    def _given_or_parsed(self, given: str | None, name: str) -> str | None:
        """The upstream's own value, else the one parsed from the raw header (looked up only
        then: most upstreams give names, and a page reads several per session)."""
        if given:
            return given
        parsed = self._parsed
        return getattr(parsed, name) if parsed else None

    @strawberry.field(description="The raw User-Agent header, when the upstream keeps it.")
    def raw(self) -> str | None:
        return self.record.raw

    @strawberry.field(description="Client IP address the upstream recorded.")
    def ip(self) -> str | None:
        return self.record.ip

    @strawberry.field(description="ZITADEL's user-agent fingerprint id.")
    def fingerprint_id(self) -> str | None:
        return self.record.fingerprint_id

    @strawberry.field(description="Human description, e.g. 'Chrome on macOS'.")
    def description(self) -> str | None:
        return self.record.description

    @strawberry.field
    def browser_name(self) -> str | None:
        return self._given_or_parsed(self.record.browser_name, "browser_name")

    @strawberry.field
    def browser_version(self) -> str | None:
        return self._given_or_parsed(self.record.browser_version, "browser_version")

    @strawberry.field
    def os_name(self) -> str | None:
        return self._given_or_parsed(self.record.os_name, "os_name")

    @strawberry.field
    def os_version(self) -> str | None:
        return self._given_or_parsed(self.record.os_version, "os_version")

    @strawberry.field
    def device_name(self) -> str | None:
        return self._given_or_parsed(self.record.device_name, "device_name")

    @strawberry.field(description="Null when the upstream gives neither a raw header nor a type.")
    def device_type(self) -> DeviceType | None:
        parsed = self._parsed
        return parsed.device_type if parsed else None


@strawberry.type(description="A verified authentication factor.")
class Factor:
    verified_at: datetime | None


@strawberry.type(description="A verified WebAuthN (passkey or security key) factor.")
class WebAuthNFactor:
    verified_at: datetime | None
    user_verified: bool = strawberry.field(
        description="Whether the user was verified (PIN, biometrics)."
    )


def _factor(record: FactorRecord | None) -> Factor | None:
    return Factor(verified_at=record.verified_at) if record else None


@strawberry.type(description="Which factors were checked for a session; null = not checked.")
class Factors:
    record: strawberry.Private[FactorsRecord]

    @strawberry.field
    def user(self) -> Factor | None:
        return _factor(self.record.user)

    @strawberry.field
    def password(self) -> Factor | None:
        return _factor(self.record.password)

    @strawberry.field(name="webAuthN")
    def web_auth_n(self) -> WebAuthNFactor | None:
        found = self.record.web_auth_n
        if found is None:
            return None
        return WebAuthNFactor(
            verified_at=found.verified_at, user_verified=bool(found.user_verified)
        )

    @strawberry.field(description="Verified through an external identity provider.")
    def intent(self) -> Factor | None:
        return _factor(self.record.intent)

    @strawberry.field
    def totp(self) -> Factor | None:
        return _factor(self.record.totp)

    @strawberry.field
    def otp_sms(self) -> Factor | None:
        return _factor(self.record.otp_sms)

    @strawberry.field
    def otp_email(self) -> Factor | None:
        return _factor(self.record.otp_email)

    @strawberry.field
    def recovery_code(self) -> Factor | None:
        return _factor(self.record.recovery_code)


@strawberry.type(description="A hyper.id site or app authorization.")
class Authorization:
    record: strawberry.Private[AuthorizationRecord]
    provider: strawberry.Private[Provider]  # the provider of the session it came with

    @strawberry.field
    def kind(self) -> AuthorizationKind:
        return self.record.kind

    @strawberry.field(
        description="Global id, unique across kinds (a client cache's key). Before 2026-11 "
        "this was the provider's own id, now `nativeId`."
    )
    def id(self) -> strawberry.ID:
        native = f"{self.record.kind.value}:{self.record.native_id}"
        return strawberry.ID(ids.encode(ids.AUTHORIZATION, self.provider, native))

    @strawberry.field(description="The provider's own authorization id (unique within its kind).")
    def native_id(self) -> strawberry.ID:
        return strawberry.ID(self.record.native_id)

    @strawberry.field
    def site_name(self) -> str | None:
        return self.record.site_name

    @strawberry.field
    def site_domain(self) -> str | None:
        return self.record.site_domain

    @strawberry.field
    def app_hardware_name(self) -> str | None:
        return self.record.app_hardware_name

    @strawberry.field
    def app_user_name(self) -> str | None:
        return self.record.app_user_name

    @strawberry.field
    def scope_id(self) -> int | None:
        return self.record.scope_id

    @strawberry.field
    def created_at(self) -> datetime | None:
        return self.record.created_at

    @strawberry.field
    def expires_at(self) -> datetime | None:
        return self.record.expires_at


@strawberry.type
class AuthorizationEdge:
    cursor: str
    node: Authorization


@strawberry.type(description="Site authorizations of the session, then the user's app ones.")
class AuthorizationConnection:
    edges: list[AuthorizationEdge]
    page_info: PageInfo
    total_count: int


def _offset_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"authorization:{index}".encode()).decode()


def _offset_of(cursor: str) -> int:
    try:
        kind, index = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if kind == "authorization" and int(index) >= 0:
            return int(index)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadUserInput("`after` is not an authorizations cursor.")


def authorization_connection(
    records: list[AuthorizationRecord], first: int, after: str | None, provider: Provider
) -> AuthorizationConnection:
    """A forward-only page over an in-memory list (an upstream sends them all at once)."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 1 and {MAX_PAGE_SIZE}, got {first}.")
    start = _offset_of(after) + 1 if after is not None else 0
    chosen = records[start : start + first]
    edges = [
        AuthorizationEdge(
            cursor=_offset_cursor(start + i), node=Authorization(record=r, provider=provider)
        )
        for i, r in enumerate(chosen)
    ]
    return AuthorizationConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + first < len(records),
            has_previous_page=start > 0,
            first_cursor=lambda: edges[0].cursor if edges else None,
            last_cursor=lambda: edges[-1].cursor if edges else None,
        ),
        total_count=len(records),
    )


@strawberry.type(description="One metadata entry; values are bytes upstream.")
class Metadata:
    record: strawberry.Private[MetadataEntry]

    @strawberry.field
    def key(self) -> str:
        return self.record.key

    @strawberry.field(description="The value as the upstream sent it: base64.")
    def value_base64(self) -> str:
        return self.record.value_base64

    @strawberry.field(description="The value decoded as UTF-8 text, when it is text.")
    def text(self) -> str | None:
        try:
            return base64.b64decode(self.record.value_base64, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
