"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import strawberry
from graphql import GraphQLError
from starlette.requests import Request

from app.auth.principal import ANONYMOUS, Principal
from app.core.errors import UpstreamError
from app.geo import REQUEST_LOCATOR
from app.listing.cursor import CursorCodec
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.upstream.upstreams import Upstreams
from resolvers.types.loaders import Loaders

if TYPE_CHECKING:
    from app.live.caller import LiveCaller


@dataclass(frozen=True, slots=True)
class Context:
    """Upstream clients, this request's loaders, the cursor codec and its partial errors."""

    upstreams: Upstreams
    loaders: Loaders
    cursors: CursorCodec
    principal: Principal = ANONYMOUS
    request: Request | None = None
    request_id: str = ""
    metrics: Metrics | None = None
    tracing: Tracing = field(default_factory=Tracing)
    # Errors of upstreams left out of an otherwise answered field; added to `errors`.
    partial_errors: list[GraphQLError] = field(default_factory=list)
    # Set on WebSocket and SSE connections only: what a subscription needs (app/live/caller.py).
    live: LiveCaller | None = None

    @classmethod
    def create(
        cls,
        upstreams: Upstreams,
        cursors: CursorCodec,
        principal: Principal = ANONYMOUS,
        request: Request | None = None,
        request_id: str = "",
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> Context:
        """A context with fresh loaders; `Session.location` of this request (and of tasks it
        starts) reads `upstreams.locator` from then on."""
        REQUEST_LOCATOR.set(upstreams.locator)
        loaders = Loaders.create(upstreams, metrics)
        return cls(
            upstreams,
            loaders,
            cursors,
            principal,
            request,
            request_id,
            metrics,
            tracing or Tracing(),
        )

    def report(self, error: UpstreamError, path: list[str | int]) -> None:
        """Add an upstream's failure to the response without failing the field (once each)."""
        for known in self.partial_errors:
            if known.original_error is error or (
                known.path == path
                and isinstance(known.original_error, UpstreamError)
                and known.original_error.provider == error.provider
            ):
                return
        self.partial_errors.append(GraphQLError(str(error), path=path, original_error=error))


Info = strawberry.Info[Context, None]
