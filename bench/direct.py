"""The per-user query answered by hand, without the GraphQL engine: what a compiled path for
known documents would still have to do, and no more.

For the per-user documents of bench/workloads.py (`USER_QUERY`, any `first`): graphql-core's
coercion of the variables, the query's price (resolvers/engine/cost.py, checked on every
request), the caller's restriction, the provider streams and the merged page, the selected
fields of each session straight from its record, and the request metrics and log line
(resolvers/engine/request_log.py). It is for the bench's own requests, which the engine answers
without errors: what the engine refuses is checked here only as far as graphql-core's coercion
and the price (`answer` then returns None, having done nothing); `filter`'s own checks
(`to_filter`: blank ids, the number of users) are not made, and an upstream failure raises.
Used by bench/engine_share.py (in one process) and bench/engine_bypass.py (a gateway).
"""

from __future__ import annotations

import time
from typing import Any

from graphql import GraphQLSchema, OperationDefinitionNode, parse
from graphql.execution.values import get_variable_values

from app.core.records import SessionRecord
from app.listing.filter import SessionFilter
from app.listing.paginate import paginate
from app.upstream import accounting
from app.upstream.fanout import fingerprint, plan_streams
from resolvers.engine.cost import Prices
from resolvers.engine.request_log import log
from resolvers.types.agent import UserAgent
from resolvers.types.context import Context
from resolvers.types.whereabouts import located


class Known:
    """A per-user document, parsed once as the document cache keeps it."""

    def __init__(self, text: str, first: int) -> None:
        self.text = text
        self.first = first
        self.document = parse(text)
        operation = self.document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        self.variables = operation.variable_definitions or ()
        self.name = operation.name.value if operation.name else None


def node(record: SessionRecord) -> dict[str, Any]:
    """The session fields `USER_QUERY` selects, as the schema answers them."""
    # The type's own resolvers (Strawberry fields to the type checker).
    agent: Any = UserAgent(record=record.user_agent) if record.user_agent else None
    return {
        "id": record.global_id,
        "provider": record.provider.name,
        "createdAt": record.created_at.isoformat(),
        "status": record.status.name,
        "remoteAddress": record.remote_address,
        "userAgent": None
        if agent is None
        else {"browserName": agent.browser_name(), "osName": agent.os_name()},
    }


async def answer(
    schema: GraphQLSchema,
    prices: Prices,
    known: Known,
    context: Context,
    variables: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The answer's `data`; None (nothing done) where the engine would answer errors."""
    started = time.perf_counter()
    upstreams = context.upstreams
    coerced = get_variable_values(schema, known.variables, variables or {}, max_errors=50)
    if isinstance(coerced, list):
        return None
    if prices.check(known.document, variables, upstreams.listings) is not None:
        return None
    # Coerced: each user's provider is a `Provider` member already.
    users = frozenset((u["provider"], u["nativeId"]) for u in coerced.coerced["users"])
    requested = context.principal.restrict(SessionFilter(users=users))
    session_filter = located(requested, upstreams.locator)
    streams = plan_streams(upstreams, session_filter, descending=True, scope=context.loaders.scope)
    page = await paginate(
        streams,
        descending=True,
        fingerprint=fingerprint(session_filter, True, streams),
        forward=True,
        size=known.first,
        cursor=None,
    )
    if page.failures or page.gaps:
        raise RuntimeError("an upstream failed: the hand-written path reports no errors")
    data = {"sessions": {"edges": [{"node": node(edge.record)} for edge in page.edges]}}
    seconds = time.perf_counter() - started
    if context.metrics is not None:
        context.metrics.request(known.name, "ok", seconds, context.principal.identity)
    log.info(
        "graphql request",
        extra={
            "requestId": context.request_id,
            "operation": known.name,
            "durationMs": round(seconds * 1000, 2),
            "upstreamCalls": accounting.calls(),
            "outcome": "ok",
            "errorCodes": [],
        },
    )
    return data
