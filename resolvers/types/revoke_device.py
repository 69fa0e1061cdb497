"""`revokeDevice`: end every session of one of a person's devices, at every provider."""

from __future__ import annotations

import strawberry

from app.auth.principal import REVOKE_ALL, REVOKE_OWN
from app.core import ids
from app.core.echo import echo
from app.core.errors import BadUserInput, Forbidden
from app.upstream.sign_out import OPEN, end_sessions
from resolvers.types.context import Info
from resolvers.types.sign_out import SignOutResult
from resolvers.types.whereabouts import session_insight


async def resolve_revoke_device(info: Info, id: strawberry.ID) -> SignOutResult:
    """End the open sessions of the device `id` (a Device global id) that the caller may end."""
    provider, native_id = ids.decode_as(ids.DEVICE, str(id))
    principal = info.context.principal
    first = await info.context.loaders.session_by_id(ids.encode(ids.SESSION, provider, native_id))
    if first is None or not principal.may_see(first):
        # Another person's device answers exactly like a missing one.
        raise BadUserInput(f"No device with id '{echo(id)}'.")
    if not principal.may_revoke(first.user):
        raise Forbidden(
            f"Ending a device's sessions needs `{REVOKE_ALL}`, or `{REVOKE_OWN}` for your own."
        )
    device = (await session_insight(info, first)).device_of[first.global_id]
    ending = [r for r in device.sessions if r.status in OPEN and principal.may_revoke(r.user)]
    return SignOutResult(report=await end_sessions(info.context.upstreams, ending))
