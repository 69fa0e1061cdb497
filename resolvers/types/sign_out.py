"""Ending sessions person-wide: signOutOtherSessions, revokePersonSessions, revokeSessions."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace

import strawberry

from app.auth.principal import REVOKE_ALL, REVOKE_OWN
from app.core import ids
from app.core.echo import echo
from app.core.errors import BadUserInput, Forbidden, GatewayError, UpstreamError
from app.core.records import Provider, SessionRecord
from app.listing.filter import SessionFilter
from app.live.poll import read_provider
from app.people import Person as PersonRecord
from app.upstream.sign_out import MAX_ENDED, OPEN, EndFailure, EndReport, end_sessions
from resolvers.types.context import Info
from resolvers.types.current import current_sessions, viewer_person, visible
from resolvers.types.enums import Provider as ProviderEnum
from resolvers.types.filters import MAX_IDS, SessionFilterInput, to_filter
from resolvers.types.sessions import Session
from resolvers.types.whereabouts import prepare

log = logging.getLogger("session_gateway.sign_out")


def _audit(info: Info, action: str, report: EndReport) -> None:
    """One line per person-wide end: who asked, how many ended and failed, per provider."""
    ended = Counter(r.provider.value for r in report.ended)
    failed = Counter(f.provider.value for f in report.failed)
    log.info(
        "%s by %s (request %s): ended %d %s, failed %d %s",
        action,
        info.context.principal.identity,
        info.context.request_id or "-",
        len(report.ended),
        dict(ended),
        len(report.failed),
        dict(failed),
    )


PARENT_OF_KEPT = "PARENT_OF_KEPT"


class NoCurrentSession(GatewayError):
    """The request names no session of its own, so "the others" are not known."""

    code = "NO_CURRENT_SESSION"


class TooManySessions(GatewayError):
    """More sessions match than the caller's `max`; nothing was ended."""

    code = "TOO_MANY_SESSIONS"


@strawberry.type(
    description="A session that was not ended (`session` set), or a provider whose sessions "
    "could not be listed (`session` null): every other provider's were still ended."
)
class SignOutFailure:
    provider: ProviderEnum
    code: str = strawberry.field(
        description="UPSTREAM_* as in errors, SESSION_NOT_FOUND (gone meanwhile), "
        "REVOKE_REFUSED (the provider would not end it) or PARENT_OF_KEPT (left open because "
        "ending it would end a kept or current session, its child, with it)."
    )
    message: str
    record: strawberry.Private[SessionRecord | None]

    @strawberry.field(description="The session's global id; null for a listing failure.")
    def session_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.record.global_id) if self.record else None

    @strawberry.field(description="The session as read before the attempt.")
    def session(self) -> Session | None:
        return Session.from_record(self.record) if self.record else None

    @classmethod
    def of(cls, failure: EndFailure) -> SignOutFailure:
        return cls(
            provider=failure.provider,
            code=failure.code,
            message=failure.message,
            record=failure.session,
        )


@strawberry.type(
    description="What a person-wide sign-out ended: each session now with its ended status "
    "(a normalised client cache updates them by id), and what failed."
)
class SignOutResult:
    report: strawberry.Private[EndReport]

    @strawberry.field(description="Sessions that were open and are now ended.")
    def ended(self) -> list[Session]:
        return [Session.from_record(r) for r in self.report.ended]

    @strawberry.field(description="Sessions left open, and providers not listed, with why.")
    def failed(self) -> list[SignOutFailure]:
        return [SignOutFailure.of(f) for f in self.report.failed]


@strawberry.type(description="What `revokeSessions` matched, and on a real run what it ended.")
class BulkRevokeResult:
    dry_run: bool
    matched_records: strawberry.Private[list[SessionRecord]]
    report: strawberry.Private[EndReport]

    @strawberry.field(description="How many open sessions the filter matched.")
    def matched_count(self) -> int:
        return len(self.matched_records)

    @strawberry.field(
        description="The open sessions the filter matched: on a dry run, what a real run would end."
    )
    def matched(self) -> list[Session]:
        return [Session.from_record(r) for r in self.matched_records]

    @strawberry.field(description="Sessions ended (none on a dry run).")
    def ended(self) -> list[Session]:
        return [Session.from_record(r) for r in self.report.ended]

    @strawberry.field(description="Sessions left open, and providers not listed, with why.")
    def failed(self) -> list[SignOutFailure]:
        return [SignOutFailure.of(f) for f in self.report.failed]


async def _open_sessions(
    info: Info, requested: SessionFilter, limit: int
) -> tuple[list[SessionRecord], list[EndFailure]]:
    """The open sessions `requested` selects that the caller may see (up to `limit` per
    listing read, newest first), and the providers that could not be listed."""
    statuses = OPEN if requested.statuses is None else requested.statuses & OPEN
    session_filter = info.context.principal.restrict(replace(requested, statuses=statuses))
    upstreams = info.context.upstreams
    # One read per provider, or per user where the filter names users: a provider lists one
    # user at a time, and the reads run at once rather than one after another.
    reads: list[tuple[Provider, SessionFilter]] = []
    for provider in session_filter.in_scope(upstreams.enabled):
        if session_filter.users is None:
            reads.append((provider, session_filter))
            continue
        reads += [
            (provider, replace(session_filter, users=frozenset({user})))
            for user in sorted(session_filter.users, key=lambda u: u[1])
            if user[0] is provider
        ]
    listings = await asyncio.gather(
        *(read_provider(upstreams, p, f, limit) for p, f in reads), return_exceptions=True
    )
    found: dict[str, SessionRecord] = {}
    failed: dict[Provider, EndFailure] = {}
    for (provider, _), listing in zip(reads, listings, strict=True):
        if isinstance(listing, UpstreamError):
            failed.setdefault(provider, EndFailure(provider, listing.code, str(listing)))
        elif isinstance(listing, BaseException):
            raise listing
        else:
            found.update((r.global_id, r) for r in listing.records)
    # A provider that could not list one of the users is left out whole, with its failure:
    # ending part of what it holds would look like all of it.
    kept = [r for r in found.values() if r.provider not in failed]
    kept.sort(key=lambda r: r.sort_key, reverse=True)
    return kept, list(failed.values())


def _person_filter(person: PersonRecord) -> SessionFilter:
    return SessionFilter(users=person.users)


Key = tuple[Provider, str]


def _sparing(
    found: list[SessionRecord], kept: set[Key]
) -> tuple[list[SessionRecord], list[EndFailure]]:
    """The sessions to end, and the ancestors of kept sessions left open: a provider that ends
    children with their parent (PrivX) would end a kept session along with its parent."""
    by_key = {(r.provider, r.native_id): r for r in found}
    spared: dict[Key, SessionRecord] = {}
    for key in kept:
        record = by_key.get(key)
        while record is not None and record.parent_native_id is not None:
            parent_key = (record.provider, record.parent_native_id)
            if parent_key in spared or parent_key in kept:
                break
            record = by_key.get(parent_key)
            if record is not None:
                spared[parent_key] = record
    ending = [r for r in found if (r.provider, r.native_id) not in kept | spared.keys()]
    left_open = [
        EndFailure(
            r.provider,
            PARENT_OF_KEPT,
            "Left open: ending it would end a kept session with it, as its child.",
            r,
        )
        for r in spared.values()
    ]
    return ending, left_open


async def resolve_sign_out_other_sessions(info: Info) -> SignOutResult:
    """End every open session of the caller's person except the one the request is made with."""
    principal = info.context.principal
    if not (principal.anonymous or {REVOKE_OWN, REVOKE_ALL} & principal.scopes):
        raise Forbidden(f"Signing out other sessions needs the `{REVOKE_OWN}` scope.")
    person = await visible(info, await viewer_person(info))
    if person is None:
        raise Forbidden("Signing out other sessions needs a caller that is a person.")
    current = await current_sessions(info)
    if not current:
        raise NoCurrentSession(
            "This request names no current session (a token claim of GATEWAY_JWT_SESSION_CLAIMS "
            "or a forwarded credential), so the other sessions are not known; nothing was ended."
        )
    found, failed = await _open_sessions(info, _person_filter(person), MAX_ENDED)
    mine = [r for r in found if principal.may_revoke(r.user)]
    others, left_open = _sparing(mine, set(current))
    # At most MAX_ENDED, newest first: a second run ends the rest.
    report = await end_sessions(info.context.upstreams, others[:MAX_ENDED])
    report.failed[:0] = failed + left_open
    _audit(info, "signOutOtherSessions", report)
    return SignOutResult(report=report)


async def resolve_revoke_person_sessions(
    info: Info,
    person: strawberry.ID,
    keep: list[strawberry.ID] | None = [],  # noqa: B006 - the schema's default; never changed
) -> SignOutResult:
    """End every open session of one person at every provider, except those in `keep`."""
    if not info.context.principal.may_revoke(None):
        raise Forbidden(f"Ending a person's sessions needs the `{REVOKE_ALL}` scope.")
    kept = list(keep or [])
    if len(kept) > MAX_IDS:
        raise BadUserInput(f"`keep` takes at most {MAX_IDS} ids, got {len(kept)}.")
    keep_keys = {ids.decode_as(ids.SESSION, str(k)) for k in kept}
    key = ids.person_id(str(person))
    if key is None:
        ids.decode(str(person))  # a malformed id, or another kind's: a precise error
        raise BadUserInput(f"'{echo(person)}' is not the id of a Person.")
    found_person = await visible(info, await info.context.upstreams.people.person(key))
    if found_person is None:
        raise BadUserInput(f"No person with id '{echo(person)}'.")
    found, failed = await _open_sessions(info, _person_filter(found_person), MAX_ENDED)
    ending, left_open = _sparing(found, keep_keys)
    report = await end_sessions(info.context.upstreams, ending[:MAX_ENDED])
    report.failed[:0] = failed + left_open
    # A derived id is made of user ids, which stay out of the log.
    named = "a person of users only" if found_person.derived else repr(found_person.id)
    _audit(info, f"revokePersonSessions of {named}", report)
    return SignOutResult(report=report)


async def resolve_revoke_sessions(
    info: Info, filter: SessionFilterInput, max: int, dry_run: bool = True
) -> BulkRevokeResult:
    """End every open session `filter` matches, or on a dry run say which it would end."""
    if not info.context.principal.may_revoke(None):
        raise Forbidden(f"Ending sessions by filter needs the `{REVOKE_ALL}` scope.")
    if not 1 <= max <= MAX_ENDED:
        raise BadUserInput(f"`max` must be between 1 and {MAX_ENDED}, got {max}.")
    # Place and signal parts answered as on `sessions` (resolvers/types/whereabouts.py).
    requested = await prepare(info, to_filter(filter))
    found, failed = await _open_sessions(info, requested, max + 1)
    if len(found) > max:
        raise TooManySessions(
            f"More than {max} open sessions match (`max`); nothing was ended. Narrow the "
            "filter, or raise `max` after a dry run."
        )
    report = EndReport(failed=failed)
    if not dry_run:
        report = await end_sessions(info.context.upstreams, found)
        report.failed[:0] = failed
        _audit(info, "revokeSessions", report)
    return BulkRevokeResult(dry_run=dry_run, matched_records=found, report=report)


__all__ = ["BulkRevokeResult", "SignOutFailure", "SignOutResult"]
