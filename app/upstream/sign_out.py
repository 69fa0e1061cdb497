"""Ending many sessions at once (sign out elsewhere, offboarding, incident response).

Each session is ended with revoke_session, as `revokeSession` ends one: every end reaches the
revocation listeners (live events, cache purges). Providers are asked concurrently, each with
a bounded number of calls at a time; a provider that fails fails its own sessions only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.core.errors import UpstreamError
from app.core.records import Provider, RevokeOutcome, SessionRecord, SessionStatus
from app.upstream import accounting
from app.upstream.revoke import ended_as, revoke_session
from app.upstream.upstreams import Upstreams

# Calls at once per provider: the default GATEWAY_UPSTREAM_CONCURRENCY (each provider's
# endpoint holds its own limit too).
CONCURRENCY = 16
# What may still be ended: the rest have ended or expired already.
OPEN = frozenset({SessionStatus.ACTIVE, SessionStatus.PENDING})
# Sessions one sign-out or one bulk revoke ends at most (revokeSessions' `max` stays below).
MAX_ENDED = 10_000
NOT_FOUND = "SESSION_NOT_FOUND"
REFUSED = "REVOKE_REFUSED"


@dataclass(frozen=True, slots=True)
class EndFailure:
    """A session that could not be ended, or a provider whose sessions could not be listed
    (then `session` is None): the provider, a stable code and a message for people."""

    provider: Provider
    code: str
    message: str
    session: SessionRecord | None = None


@dataclass(slots=True)
class EndReport:
    """What ending a set of sessions did: those ended (with their ended status) and failures."""

    ended: list[SessionRecord] = field(default_factory=list)
    failed: list[EndFailure] = field(default_factory=list)


async def end_sessions(
    upstreams: Upstreams,
    records: Iterable[SessionRecord],
    *,
    concurrency: int = CONCURRENCY,
) -> EndReport:
    """End each of `records`: all providers at once, `concurrency` calls at a time at each.

    The ends are bounded by how many records the caller chose (MAX_ENDED at most), not by the
    request's call budget, which is for reads; the request's deadline still holds, and a
    session it cuts off is a failure like any other.
    """
    by_provider: dict[Provider, list[SessionRecord]] = defaultdict(list)
    for record in records:
        by_provider[record.provider].append(record)
    report = EndReport()

    async def one(record: SessionRecord, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                outcome = await revoke_session(upstreams, record.provider, record.native_id)
            except UpstreamError as exc:
                report.failed.append(EndFailure(record.provider, exc.code, str(exc), record))
                return
        if outcome is RevokeOutcome.REVOKED:
            report.ended.append(ended_as(record, upstreams))
        elif outcome is RevokeOutcome.NOT_FOUND:
            message = f"{record.provider.value} no longer has this session."
            report.failed.append(EndFailure(record.provider, NOT_FOUND, message, record))
        else:
            message = f"{record.provider.value} refused to end this session."
            report.failed.append(EndFailure(record.provider, REFUSED, message, record))

    limits = {provider: asyncio.Semaphore(concurrency) for provider in by_provider}

    async def run() -> None:
        accounting.start(None)  # this task's own tally: ends are bounded by their number
        await asyncio.gather(
            *(one(r, limits[p]) for p, group in by_provider.items() for r in group)
        )

    await asyncio.create_task(run())
    order = {r.global_id: i for i, r in enumerate(r for g in by_provider.values() for r in g)}
    report.ended.sort(key=lambda r: order[r.global_id])
    report.failed.sort(key=lambda f: order[f.session.global_id] if f.session else -1)
    return report
