"""Who the request is: the caller's person and the sessions the request is made with.

Both are worked out once per request (kept in the request scope) and read by `viewer`,
`person`, `SessionUser.person` and `Session.current`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.auth.principal import SessionKey
from app.core.errors import UpstreamError
from app.people import Person, UserKey
from resolvers.types.context import Info

T = TypeVar("T")
_VIEWER = "people.viewer"
_CURRENT = "people.current"


async def _once(info: Info, key: str, make: Callable[[], Awaitable[T]]) -> T:
    """`make()`'s result, made once per request however many fields ask at once."""
    values: dict[str, Any] = info.context.loaders.scope.values
    task = values.get(key)
    if task is None:
        task = values[key] = asyncio.ensure_future(make())
    result: T = await asyncio.shield(task)
    return result


async def viewer_person(info: Info) -> Person | None:
    """The caller's person: its token's or API key's users with their links; None for a
    caller that is not a person (anonymous, or a key without users)."""
    context = info.context
    return await _once(
        info, _VIEWER, lambda: context.upstreams.people.person_of_users(context.principal.users)
    )


async def visible(info: Info, person: Person | None) -> Person | None:
    """`person` as the caller may see it: a caller without sessions:read:all sees its own
    person only, and of it only its own users (links never widen what a caller sees)."""
    principal = info.context.principal
    if person is None or principal.reads_all:
        return person
    own = await viewer_person(info)
    if own is None or own.id != person.id:
        return None
    return Person(person.id, frozenset(u for u in person.users if u in principal.users))


async def person_of(info: Info, user: UserKey) -> Person:
    """The person `user` belongs to, the caller's own links (its token) first."""
    if user in info.context.principal.users:
        own = await viewer_person(info)
        if own is not None:
            return own
    return await info.context.upstreams.people.person_of(user)


async def current_sessions(info: Info) -> frozenset[SessionKey]:
    """The sessions this request is made with: named by its token (GATEWAY_JWT_SESSION_CLAIMS)
    or told by a provider from the credential the caller forwards."""
    return await _once(info, _CURRENT, lambda: _current(info))


async def _current(info: Info) -> frozenset[SessionKey]:
    providers = info.context.upstreams.providers
    told = await asyncio.gather(
        *(p.current_session() for p in providers.values()), return_exceptions=True
    )
    found = set(info.context.principal.sessions)
    for (provider, _), answer in zip(providers.items(), told, strict=True):
        if isinstance(answer, str):
            found.add((provider, answer))
        elif isinstance(answer, UpstreamError):
            # Not told: no session of this provider is marked current, and the error says why.
            info.context.report(answer, list(info.path.as_list()))
        elif isinstance(answer, BaseException):
            raise answer
    return frozenset(found)
