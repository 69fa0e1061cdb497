"""Per-request dataloaders: every lookup by key is batched and de-duplicated."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aiodataloader import DataLoader

from app.core import ids
from app.core.errors import UpstreamError
from app.core.maybe import Maybe
from app.core.records import AuthorizationRecord, Provider, SessionRecord, UserRecord
from app.observability.metrics import Metrics
from app.upstream.provider import RequestScope
from app.upstream.upstreams import Upstreams


@dataclass(frozen=True, slots=True)
class Loaders:
    """The loaders of one request, and the scope providers keep their own in; both die with it."""

    session: DataLoader[str, SessionRecord | None]
    user: DataLoader[tuple[Provider, str], UserRecord | None]
    scope: RequestScope
    upstreams: Upstreams

    @classmethod
    def create(cls, upstreams: Upstreams, metrics: Metrics | None = None) -> Loaders:
        """Fresh loaders over `upstreams`; batch sizes go to `metrics`."""
        scope = RequestScope(metrics.batch if metrics is not None else None)

        async def load_sessions(global_ids: list[str]) -> list[SessionRecord | None]:
            wanted: dict[Provider, list[str]] = defaultdict(list)
            for global_id in global_ids:
                provider, native_id = ids.decode_as(ids.SESSION, global_id)
                if provider in upstreams.providers:  # a disabled provider knows no sessions
                    wanted[provider].append(native_id)
            # One provider failing fails only its own keys.
            found = await asyncio.gather(
                *(upstreams.providers[p].sessions(n, scope) for p, n in wanted.items()),
                return_exceptions=True,
            )
            by_id: dict[str, SessionRecord] = {}
            failed: dict[Provider, UpstreamError] = {}
            for provider, result in zip(wanted, found, strict=True):
                if isinstance(result, UpstreamError):
                    failed[provider] = result
                elif isinstance(result, BaseException):
                    raise result
                else:
                    by_id.update((r.global_id, r) for r in result)
            # aiodataloader raises an Exception value for its key; its types do not say so.
            return cast(
                "list[SessionRecord | None]",
                [failed.get(ids.decode_as(ids.SESSION, g)[0]) or by_id.get(g) for g in global_ids],
            )

        async def load_users(keys: list[tuple[Provider, str]]) -> list[UserRecord | None]:
            # One batch per provider: one lookup, or one listing for many (provider.users).
            wanted: dict[Provider, list[str]] = defaultdict(list)
            for provider, native_id in keys:
                if provider in upstreams.providers:
                    wanted[provider].append(native_id)
            found = await asyncio.gather(
                *(upstreams.providers[p].users(n, scope) for p, n in wanted.items()),
                return_exceptions=True,
            )
            by_key: dict[tuple[Provider, str], UserRecord] = {}
            failed: dict[Provider, UpstreamError] = {}
            for provider, result in zip(wanted, found, strict=True):
                if isinstance(result, UpstreamError):
                    failed[provider] = result
                elif isinstance(result, BaseException):
                    raise result
                else:
                    by_key.update(((provider, n), user) for n, user in result.items())
            return cast(
                "list[UserRecord | None]", [failed.get(k[0]) or by_key.get(k) for k in keys]
            )

        return cls(
            session=scope.loader("session", load_sessions),
            user=scope.loader("user", load_users),
            scope=scope,
            upstreams=upstreams,
        )

    async def session_by_id(self, global_id: str) -> SessionRecord | None:
        """The session with `global_id`, or None; a malformed id is a BadUserInput."""
        ids.decode_as(ids.SESSION, global_id)  # fail fast, outside the batch
        record: SessionRecord | None = await self.session.load(global_id)
        return record

    async def user_by_id(self, provider: Provider, native_id: str) -> UserRecord | None:
        """The user with that native id at `provider`, if any session of theirs exists."""
        user: UserRecord | None = await self.user.load((provider, native_id))
        return user

    def relatives(self, record: SessionRecord, relation: str) -> Maybe[list[SessionRecord]]:
        """A session's parent or children, where its provider nests sessions: at once where
        they are known without a call."""
        found = self.upstreams.providers.get(record.provider)
        if found is None:
            return []
        known = found.known_relatives(record, relation)
        return found.relatives(record, relation, self.scope) if known is None else known

    def authorizations(self, record: SessionRecord) -> Maybe[Sequence[AuthorizationRecord]]:
        """What a session authorizes, as its provider tells: at once where it is known without
        a call."""
        found = self.upstreams.providers.get(record.provider)
        if found is None:
            return record.authorizations
        known = found.known_authorizations(record)
        return found.authorizations(record, self.scope) if known is None else known
