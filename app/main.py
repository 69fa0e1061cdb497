"""create_app(): routes, lifespan and middleware around the GraphQL view. The composition root."""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TypedDict

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from app.auth import Authenticator
from app.auth.apikeys import CHECK_EVERY, ApiKeyStore
from app.auth.jwt import JwksSource, JwtVerifier
from app.core.errors import ConfigError
from app.core.records import Provider
from app.geo import ReloadFailures, open_locator
from app.http.admission import Admission
from app.http.auth import AuthMiddleware
from app.http.body_limit import BodyLimit
from app.http.cors import cors
from app.http.drain import DRAIN, CloseWhileDraining, follow_supervisor
from app.http.error_media import ErrorMediaType
from app.http.front import Front
from app.http.graphiql import EXAMPLES, graphiql_routes
from app.http.headers import RequestHeaders
from app.http.serving import tune_collector
from app.http.sse import SseEndpoint
from app.http.view import GatewayGraphQL
from app.http.websocket import TextWebSocketAdapter, WebSocketsPerAddress, transport_ws_handler
from app.listing.cursor import CursorCodec
from app.live.hub import Hub, LiveConfig
from app.live.live_metrics import LiveMetrics
from app.observability.loop_lag import LAG
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.settings import Settings
from app.state.persisted import PersistedDocuments, load_manifest
from app.state.ratelimit import RateLimit, RateLimiter, parse_limit
from app.state.response_cache import ResponseCache
from app.state.shared import Shared
from app.upstream.calls.http1 import HttpClient
from app.upstream.readiness import Readiness
from app.upstream.upstreams import Upstreams, people_directory
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.service import Webhooks
from resolvers.schema import Limits, build_schema

log = logging.getLogger("session_gateway")

# Keep-alive connections kept per upstream host; fan-out never needs more than a few at once.
CONNECTIONS_PER_HOST = 32


class State(TypedDict):
    upstreams: Upstreams
    readiness: Readiness
    authenticator: Authenticator
    metrics: Metrics
    shared: Shared
    hub: Hub
    limiter: RateLimiter


def _cursor_secret(settings: Settings) -> bytes:
    if settings.cursor_secret is not None:
        return settings.cursor_secret.get_secret_value().encode()
    log.warning(
        "GATEWAY_CURSOR_SECRET is not set: using a random secret, so cursors stop working "
        "when this process restarts and are not shared between workers."
    )
    return secrets.token_bytes(32)


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: every enabled provider answered a cheap call within a short timeout, and the
    process is not shutting down (app/http/drain.py)."""
    if DRAIN.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    providers = await request.state.readiness.check()
    ready = all(p["ready"] for p in providers.values())
    shared: Shared = request.state.shared
    await shared.ping()
    # A Redis outage (or a full Redis) makes the gateway not ready only when it refuses requests
    # for it (GATEWAY_RATE_LIMIT_FAIL_OPEN=false); fail-open replicas still answer every query.
    redis = shared.status()
    if shared.configured:
        redis["failOpen"] = shared.fail_open
        ready = ready and ((redis["up"] and not shared.full) or shared.fail_open)
    body = {"status": "ready" if ready else "not ready", "providers": providers, "redis": redis}
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    registry = request.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def authenticator(settings: Settings, session: aiohttp.ClientSession) -> Authenticator:
    """The configured caller authentication."""
    api_keys = None
    if settings.api_keys:
        # Requests see a changed key file within a second, and never later than streams do.
        check_every = min(CHECK_EVERY, settings.reauth_interval)
        api_keys = ApiKeyStore.load(settings.api_keys.get_secret_value(), check_every)
    verifier = None
    if settings.jwks_url or settings.jwks_file:
        verifier = JwtVerifier(
            JwksSource(url=settings.jwks_url, path=settings.jwks_file, session=session),
            issuer=settings.jwt_issuer or "",
            audience=settings.jwt_audience,
            user_claims=settings.jwt_user_claims,
            session_claims=settings.jwt_session_claims,
        )
    return Authenticator(
        api_keys,
        verifier,
        allow_anonymous=settings.allow_anonymous,
        forwarded=forward_headers(settings),
    )


def forward_headers(settings: Settings) -> tuple[str, ...]:
    """The caller's headers sent on as upstream credentials (GATEWAY_<P>_FORWARD_HEADER, and
    GATEWAY_KRATOS_SESSION_HEADER with GATEWAY_KRATOS_PUBLIC_URL)."""
    named = (h for provider in Provider for h in settings.provider(provider).caller_headers())
    return tuple(dict.fromkeys(header.lower() for header in named))


def client_session(settings: Settings) -> aiohttp.ClientSession:
    """The one HTTP client of the upstream calls: pooled keep-alive connections, no cookies."""
    timeout = aiohttp.ClientTimeout(
        total=settings.upstream_timeout, connect=settings.upstream_connect_timeout
    )
    connector = aiohttp.TCPConnector(limit_per_host=CONNECTIONS_PER_HOST)
    # No cookie jar: one session serves every caller, so a cookie an upstream sets must not
    # ride along on later calls (a cookie credential is sent as a header on each call).
    return aiohttp.ClientSession(
        timeout=timeout, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    )


@contextlib.asynccontextmanager
async def upstream_client(settings: Settings) -> AsyncIterator[HttpClient | None]:
    """The lean client of the upstream calls (app/upstream/calls/http1.py), the same limits as
    the session's; None with GATEWAY_FAST_PATH=false, where aiohttp makes them."""
    if not settings.fast_path:
        yield None
        return
    client = HttpClient(
        timeout=settings.upstream_timeout,
        connect_timeout=settings.upstream_connect_timeout,
        limit_per_host=CONNECTIONS_PER_HOST,
    )
    try:
        yield client
    finally:
        await client.close()


def create_app(settings: Settings | None = None) -> Starlette:
    """The gateway as an ASGI app; `settings` default to the environment."""
    settings = settings or Settings.from_environ()
    if not settings.caller_auth and not settings.allow_anonymous:
        raise ConfigError(
            "No caller authentication is configured: set GATEWAY_API_KEYS and/or "
            "GATEWAY_JWKS_URL/GATEWAY_JWKS_FILE, or GATEWAY_ALLOW_ANONYMOUS=true to let anyone "
            "who reaches the gateway read every session."
        )
    if settings.api_keys:
        ApiKeyStore.load(settings.api_keys.get_secret_value())  # fail at start-up, not per call
    cursors = CursorCodec(_cursor_secret(settings))
    metrics = Metrics()
    people = people_directory(settings, metrics)  # a malformed people file stops start-up
    # Opened here, not in the lifespan: a database that cannot be opened stops start-up.
    locator = open_locator(
        settings.geoip_city_db, settings.geoip_asn_db, ReloadFailures(metrics.registry)
    )
    live_metrics = LiveMetrics(metrics.registry)
    webhook_metrics = WebhookMetrics(metrics.registry)
    tracing = Tracing(settings.tracing)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    shared = Shared(redis_url, metrics, settings.rate_limit_fail_open, settings.redis_timeout)
    limiter = RateLimiter(
        shared,
        parse_limit(settings.rate_limit, "GATEWAY_RATE_LIMIT") if settings.rate_limit else None,
        parse_limit(settings.cost_budget, "GATEWAY_COST_BUDGET") if settings.cost_budget else None,
        settings.rate_limit_fail_open,
        metrics,
    )
    cache = (
        ResponseCache(shared, settings.response_cache_ttl, metrics)
        if settings.response_cache_ttl
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # Objects made at start-up live for the process: keep them out of every later
        # collection, so full collections only walk what requests leave behind.
        gc.collect()
        gc.freeze()
        async with (
            LAG.running(),
            client_session(settings) as session,
            upstream_client(settings) as client,
        ):
            upstreams = Upstreams.create(
                session, settings, metrics, tracing, people, locator=locator, client=client
            )
            if cache is not None:
                upstreams.revocations.listen(cache.purge)
            hub = Hub(upstreams, LiveConfig.of(settings), live_metrics, shared=shared)
            await hub.start()
            webhooks = Webhooks.of(settings, hub, shared, webhook_metrics)
            await webhooks.start()
            try:
                yield {
                    "upstreams": upstreams,
                    "readiness": Readiness(upstreams),
                    "authenticator": authenticator(settings, session),
                    "metrics": metrics,
                    "shared": shared,
                    "hub": hub,
                    "limiter": limiter,  # app/http/websocket.py counts each subscribe with it
                }
            finally:
                await webhooks.close()  # first: its subscriptions are the hub's
                await hub.close()
                await shared.close()

    schema = build_schema(Limits.of(settings))
    trusted = {}
    if settings.persisted_documents and settings.persisted_documents_mode != "off":
        trusted = load_manifest(settings.persisted_documents, schema._schema)
    persisted = PersistedDocuments(
        trusted,
        settings.persisted_documents_mode,
        shared,
        settings.apq_max_bytes,
        metrics,
        registrations=parse_limit(settings.apq_registrations, "GATEWAY_APQ_REGISTRATIONS"),
        max_documents=settings.apq_max_documents,
    )
    # Operations of the gateway's own documents always have their label in /metrics.
    metrics.trust([*trusted.values(), *(query for _, query in EXAMPLES)])
    front = Front(persisted, cache, schema.documents)
    graphql = GatewayGraphQL(
        schema,
        cursors,
        settings.request_timeout,
        metrics,
        tracing,
        settings.max_upstream_calls,
        front,
        lean=settings.fast_path,
    )
    graphql.websocket_adapter_class = TextWebSocketAdapter
    graphql.connection_init_wait_timeout = timedelta(seconds=settings.websocket_init_timeout)
    graphql.graphql_transport_ws_handler_class = transport_ws_handler(
        settings.heartbeat_interval, settings.reauth_interval, persisted
    )
    graphql.sse = SseEndpoint(
        schema,
        graphql.get_context,
        heartbeat=settings.heartbeat_interval,
        reauth=settings.reauth_interval,
        persisted=persisted,
    )
    routes = [
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *graphiql_routes(),
    ]
    middleware = [
        # Outermost: every answer of a draining process closes its connection.
        Middleware(CloseWhileDraining),
        # A preflight is answered before any check that needs credentials.
        *cors(settings.cors_origins, forward_headers(settings)),
        Middleware(WebSocketsPerAddress, limit=settings.max_websockets_per_address),
        Middleware(ErrorMediaType),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        Middleware(RequestHeaders),
        Middleware(AuthMiddleware),
        Middleware(RateLimit, limiter=limiter),
        Middleware(
            Admission,
            max_in_flight=settings.max_in_flight,
            per_caller=settings.max_in_flight_per_caller,
            queue=settings.admission_queue,
            wait=settings.admission_wait,
            metrics=metrics,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def worker_app() -> Starlette:
    """The app of one `serve --workers N` worker process, with the collector tuned and the
    supervisor's drain signals followed."""
    tune_collector()
    follow_supervisor()
    return create_app()
