"""Users found by walking listings: many users of one provider for the price of one listing.

No upstream looks up several users in one call (each filters by one user at most), so a batch
of users reads the provider's unfiltered listing once, oldest first, and stops as soon as every
wanted user has turned up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.core.records import UserRecord
from app.listing.streams import Stream


async def find_users(streams: Sequence[Stream], native_ids: Iterable[str]) -> dict[str, UserRecord]:
    """The users among `native_ids` that own a session in `streams`, by native id."""
    wanted = set(native_ids)
    found: dict[str, UserRecord] = {}
    for stream in streams:
        start, size = 0, 1
        while start < size and len(found) < len(wanted):
            part = await stream.head(start, stream.max_chunk, None)
            for record in part.items:
                user = record.user
                if user is not None and user.native_id in wanted:
                    found.setdefault(user.native_id, user)
            if not part.items:
                break
            start, size = part.start + len(part.items), part.size
    return found
