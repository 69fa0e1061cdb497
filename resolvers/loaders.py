"""Per-request dataloaders: every lookup by key is batched and de-duplicated."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from aiodataloader import DataLoader

from app import ids
from app.errors import UpstreamError
from app.metrics import Metrics
from app.upstream import Upstreams
from app.upstream.hyperid import CURRENT_USER
from app.upstream.records import AuthorizationRecord, Provider, SessionRecord, UserRecord

# A PrivX session's relatives, of one user: (PARENT, user, parent's id) answers the parent,
# (CHILDREN, user, session id) the session's children.
PARENT, CHILDREN = "parent", "children"
FamilyKey = tuple[str, str, str]
HyperIdListing = tuple[list[SessionRecord], Sequence[AuthorizationRecord]]
K = TypeVar("K")
V = TypeVar("V")
Batch = Callable[[list[K]], Coroutine[Any, Any, list[V]]]


@dataclass(frozen=True, slots=True)
class Loaders:
    """The loaders of one request; their caches die with it."""

    session: DataLoader[str, SessionRecord | None]
    privx_family: DataLoader[FamilyKey, list[SessionRecord]]
    hyperid_listing: DataLoader[str, HyperIdListing]
    user: DataLoader[tuple[Provider, str], UserRecord | None]

    @classmethod
    def create(cls, upstreams: Upstreams, metrics: Metrics | None = None) -> Loaders:
        """Fresh loaders over `upstreams`; batch sizes go to `metrics`."""

        def observed(name: str, batch: Batch[K, V]) -> DataLoader[K, V]:
            if metrics is None:
                return DataLoader(batch)
            observe = metrics.batch(name)

            async def counted(keys: list[K]) -> list[V]:
                observe(len(keys))
                return await batch(keys)

            return DataLoader(counted)

        async def load_hyperid(keys: list[str]) -> list[HyperIdListing]:
            assert upstreams.hyperid is not None
            listing = await upstreams.hyperid.list()
            return [listing for _ in keys]

        # PrivX sessions parsed for `parent` and `children` in this request, by family key, and
        # the ids whose whole family is among them (or that PrivX does not know).
        privx_family: dict[FamilyKey, list[SessionRecord]] = defaultdict(list)
        privx_known: set[str] = set()

        async def load_privx_family(keys: list[FamilyKey]) -> list[list[SessionRecord]]:
            # PrivX looks up neither by id nor by parent: one listing (of the user's sessions
            # when every key is one user's) answers a page's relatives. Only their families are
            # parsed and kept, and relatives of relatives, asked next, are among them.
            missing = {native_id for _, _, native_id in keys if native_id not in privx_known}
            if missing:
                assert upstreams.privx is not None
                users = {user for _, user, native_id in keys if native_id in missing}
                listing = await upstreams.privx.listing(users.pop() if len(users) == 1 else None)
                for record in listing.trees(missing):
                    privx_known.add(record.native_id)
                    if record.user is not None:
                        user = record.user.native_id
                        privx_family[(PARENT, user, record.native_id)].append(record)
                        if record.parent_native_id is not None:
                            privx_family[(CHILDREN, user, record.parent_native_id)].append(record)
                privx_known.update(missing)
            return [privx_family.get(key, []) for key in keys]

        hyperid_listing = observed("hyperid_listing", load_hyperid)

        async def load_sessions(global_ids: list[str]) -> list[SessionRecord | None]:
            wanted: dict[Provider, list[str]] = defaultdict(list)
            for global_id in global_ids:
                provider, native_id = ids.decode_as(ids.SESSION, global_id)
                wanted[provider].append(native_id)
            # One provider failing fails only its own keys.
            found = await asyncio.gather(
                *(_fetch(p, n) for p, n in wanted.items()), return_exceptions=True
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

        async def _fetch(provider: Provider, native_ids: Sequence[str]) -> list[SessionRecord]:
            wanted = set(native_ids)
            if provider is Provider.ZITADEL and upstreams.zitadel:
                return list((await upstreams.zitadel.get_many(native_ids)).values())
            if provider is Provider.PREFACTOR and upstreams.prefactor:
                pools = set(upstreams.prefactor.pool_ids)
                found = await upstreams.prefactor.get_many(native_ids)
                return [r for r in found.values() if getattr(r.extras, "pool_id", None) in pools]
            if provider is Provider.HYPERID and upstreams.hyperid:
                sessions, _ = await hyperid_listing.load(CURRENT_USER)
                return [r for r in sessions if r.native_id in wanted]
            if provider is Provider.PRIVX and upstreams.privx:
                # PrivX has no by-id endpoint: list what the token may see and pick.
                return (await upstreams.privx.listing()).sessions(wanted)
            return []

        async def load_users(keys: list[tuple[Provider, str]]) -> list[UserRecord | None]:
            return list(await asyncio.gather(*(_user(p, n) for p, n in keys)))

        async def _user(provider: Provider, native_id: str) -> UserRecord | None:
            # A user is known by any one of their sessions; the upstreams list no users.
            records: list[SessionRecord] = []
            if provider is Provider.PRIVX and upstreams.privx:
                records, _ = await upstreams.privx.search(
                    user_id=native_id, offset=0, limit=1, descending=True
                )
            elif provider is Provider.ZITADEL and upstreams.zitadel:
                records, _ = await upstreams.zitadel.search(
                    [{"userIdQuery": {"id": native_id}}], offset=0, limit=1, asc=False
                )
            elif provider is Provider.PREFACTOR and upstreams.prefactor:
                for pool_id in upstreams.prefactor.pool_ids:
                    records, _ = await upstreams.prefactor.list(
                        pool_id=pool_id, identity_id=native_id, offset=0, page_size=1
                    )
                    if records:
                        break
            elif provider is Provider.HYPERID and upstreams.hyperid and native_id == CURRENT_USER:
                return UserRecord(Provider.HYPERID, CURRENT_USER)
            users = [r.user for r in records if r.user and r.user.native_id == native_id]
            return users[0] if users else None

        return cls(
            user=observed("user", load_users),
            session=observed("session", load_sessions),
            privx_family=observed("privx_family", load_privx_family),
            hyperid_listing=hyperid_listing,
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
