"""Ending many sessions at once (sign out elsewhere, offboarding, incident response).

Each provider ends its share in one batch (`SessionProvider.revoke_many`) from the records
already read, doing only the upstream calls an end needs there: no lookup by id before a
revoke, one call for a session and the children it ends. Every end reaches the revocation
listeners (live events, cache purges) as `revokeSession`'s does. Providers are asked
concurrently, each with a bounded number of calls at a time; a provider that fails fails its
own sessions only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.core.errors import UpstreamError
from app.core.records import Provider, RevokeOutcome, SessionRecord, SessionStatus
from app.upstream import accounting
from app.upstream.provider import Ending
from app.upstream.revocations import Revoked
from app.upstream.revoke import ended_as
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

    async def provider_batch(provider: Provider, group: list[SessionRecord]) -> None:
        found = upstreams.providers.get(provider)
        # A disabled provider knows no sessions.
        endings = (
            [Ending(r, RevokeOutcome.NOT_FOUND) for r in group]
            if found is None
            else await found.revoke_many(group, concurrency)
        )
        named: list[str] = []
        unnamed = False
        for ending in endings:
            record, outcome = ending.record, ending.outcome
            if isinstance(outcome, UpstreamError):
                report.failed.append(EndFailure(provider, outcome.code, str(outcome), record))
            elif outcome is RevokeOutcome.REVOKED:
                report.ended.append(ended_as(record, upstreams))
                named += (record.native_id, *ending.along)
                unnamed = unnamed or ending.unnamed
            elif outcome is RevokeOutcome.NOT_FOUND:
                message = f"{provider.value} no longer has this session."
                report.failed.append(EndFailure(provider, NOT_FOUND, message, record))
            else:
                message = f"{provider.value} refused to end this session."
                report.failed.append(EndFailure(provider, REFUSED, message, record))
        if named:
            # One notice for the provider's batch: listeners purge and publish by id.
            revoked = Revoked(provider, tuple(dict.fromkeys(named)), unnamed=unnamed)
            await upstreams.revocations.publish(revoked)

    async def run() -> None:
        accounting.start(None)  # this task's own tally: ends are bounded by their number
        await asyncio.gather(*(provider_batch(p, g) for p, g in by_provider.items()))

    await asyncio.create_task(run())
    order = {r.global_id: i for i, r in enumerate(r for g in by_provider.values() for r in g)}
    report.ended.sort(key=lambda r: order[r.global_id])
    report.failed.sort(key=lambda f: order[f.session.global_id] if f.session else -1)
    return report
