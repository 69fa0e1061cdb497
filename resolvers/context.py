"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import Request

from app.listing.cursor import CursorCodec
from app.upstream import Upstreams
from resolvers.loaders import Loaders


@dataclass(frozen=True, slots=True)
class Context:
    """Upstream clients, this request's loaders and the cursor codec."""

    upstreams: Upstreams
    loaders: Loaders
    cursors: CursorCodec
    request: Request | None = None

    @classmethod
    def create(
        cls, upstreams: Upstreams, cursors: CursorCodec, request: Request | None = None
    ) -> Context:
        """A context with fresh loaders."""
        return cls(upstreams, Loaders.create(upstreams), cursors, request)


Info = strawberry.Info[Context, None]
