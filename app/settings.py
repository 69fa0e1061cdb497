"""Settings, read once from GATEWAY_* environment variables into a frozen object.

The gateway's own settings are fields here; each provider's (`GATEWAY_<NAME>_*`) are its
ProviderSettings model, declared in its package and found through the registry. A GATEWAY_*
variable that is neither stops start-up, naming the closest known variable, unless it is one
Kubernetes injects for a Service named `gateway…` (app/core/service_links.py).
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Literal

from limits import parse as parse_limit
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.errors import ConfigError
from app.core.records import Provider
from app.core.service_links import is_service_link
from app.http.cors import ANY_ORIGIN, parse_origins
from app.upstream.provider import ProviderSettings, is_set
from app.upstream.registry import PROVIDERS
from app.webhooks.config import Endpoint, parse_endpoints

MAX_SWEEP_PAGES = 1000  # GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER's most per provider
HEAD_CALLS = 10  # calls kept for a poll's head reads beside its sweep (checked at start-up)


class Settings(BaseSettings):
    """The gateway's configuration; a provider whose URL is unset is disabled."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="forbid")
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)  # setting -> where it was set
    _providers: dict[Provider, ProviderSettings] = PrivateAttr(default_factory=dict)

    cursor_secret: SecretStr | None = None
    upstream_timeout: float = Field(default=10.0, gt=0, le=300)
    upstream_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    # Whole-request deadline: past it, a query answers with what has arrived plus errors.
    request_timeout: float = Field(default=5.0, gt=0, le=300)
    upstream_retries: int = Field(default=2, ge=0, le=5)
    upstream_concurrency: int = Field(default=16, ge=1, le=1024)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown: float = Field(default=10.0, gt=0, le=3600)
    # A call cut by the request deadline counts against its provider only if the upstream
    # had held it this long; shorter, the time was lost in the gateway, not upstream.
    breaker_slow_call: float = Field(default=2.0, gt=0, le=300)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Transport limits (app/http/serving.py).
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    body_timeout: float = Field(default=10.0, gt=0, le=300)
    keepalive_timeout: float = Field(default=5.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    # WebSockets (app/http/serving.py, app/http/websocket.py): open sockets per process, below
    # max_connections so plain requests always keep room (unset: half of it); per client
    # address; seconds until `connection_init`; the largest frame before it authenticates
    # (after, max_body_bytes).
    max_websockets: int | None = Field(default=None, ge=0, le=100_000)
    max_websockets_per_address: int = Field(default=100, ge=1, le=100_000)
    websocket_init_timeout: float = Field(default=5.0, gt=0, le=300)
    websocket_init_max_bytes: int = Field(default=8 * 1024, ge=1024, le=1024 * 1024)
    # Caller authentication: API keys (JSON list or file path) and/or JWTs checked by a JWKS.
    api_keys: SecretStr | None = None
    jwks_url: str | None = None
    jwks_file: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: Annotated[tuple[str, ...], NoDecode] = ()
    # JSON object: provider -> claim holding the caller's user id there, e.g. {"<PROVIDER>": "sub"}.
    jwt_user_claims: Annotated[dict[Provider, str], NoDecode] = Field(default_factory=dict)
    # JSON object: provider -> claim holding the id of the session the token was issued for
    # there, e.g. {"ZITADEL": "sid"}: that session is the caller's current one.
    jwt_session_claims: Annotated[dict[Provider, str], NoDecode] = Field(default_factory=dict)
    allow_anonymous: bool = False
    # The identity map (app/people/file.py): a JSON file of people and their provider users,
    # re-read when it changes.
    people_file: str | None = None
    # Origins allowed by CORS (app/http/cors.py): comma-separated, or `*` for anonymous demos.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # OpenTelemetry spans per request and per upstream call (needs the `tracing` extra).
    tracing: bool = False
    # Shortcuts through graphql-core's and Strawberry's internals and past Strawberry's HTTP
    # view (the seams listed in resolvers/engine/internals.py); false runs the libraries' own
    # code paths only.
    fast_path: bool = True
    # Apollo Federation 2 subgraph mode: `_service` and `_entities` on /graphql
    # (docs/federation.md).
    federation: bool = False
    # Query limits.
    introspection: bool = True
    max_depth: int = Field(default=15, ge=2, le=100)
    max_aliases: int = Field(default=30, ge=0, le=1000)
    max_tokens: int = Field(default=5000, ge=100, le=1_000_000)
    max_cost: int = Field(default=50_000, ge=1, le=100_000_000)
    # Checked in linear time before validation (resolvers/engine/document_limits.py).
    max_fields: int = Field(default=1000, ge=10, le=1_000_000)
    max_selections: int = Field(default=200, ge=10, le=100_000)
    max_spreads: int = Field(default=200, ge=0, le=100_000)
    max_same_name: int = Field(default=50, ge=2, le=100_000)
    max_field_comparisons: int = Field(default=100_000, ge=1000, le=10_000_000)
    # Upstream calls one request may make, retries included (app/upstream/accounting.py).
    max_upstream_calls: int = Field(default=100, ge=1, le=100_000)
    # Admission control (app/http/admission.py): GraphQL requests running at once per process;
    # the rest wait in a bounded queue for a bounded time. One caller alone grows to every slot
    # while the event loop has CPU to spare; shares bind while callers compete. Requests waiting
    # on upstreams use no CPU, hence 32; CPU-bound ones gain nothing from that many, which is
    # why a caller's grant falls back while the loop is busy (docs/security.md).
    max_in_flight: int = Field(default=32, ge=1, le=100_000)
    # A caller's first grant, and its share while callers compete (at most an equal split).
    max_in_flight_per_caller: int = Field(default=8, ge=1, le=100_000)
    # Requests waiting, all callers: enough for one client's 256 connections to wait their turn
    # on one process rather than be refused; a wait is bounded by admission_wait.
    admission_queue: int = Field(default=512, ge=0, le=100_000)
    # Seconds a request may wait for a slot: well under the request deadline, which starts after.
    admission_wait: float = Field(default=2.0, gt=0, le=60)
    # Shared state for replicas (app/state/shared.py); unset, each feature keeps it in the process.
    redis_url: SecretStr | None = None
    # Connect and command timeout of every Redis call: what a dead Redis can cost a request.
    redis_timeout: float = Field(default=0.25, gt=0, le=10)
    # Per-caller limits per window (app/state/ratelimit.py), e.g. 600/minute; unset: none.
    rate_limit: str | None = None
    cost_budget: str | None = None
    rate_limit_fail_open: bool = True
    # Response cache (app/state/response_cache.py): seconds an answer is kept; unset: off.
    response_cache_ttl: float | None = Field(default=None, gt=0, le=86_400)
    # Trusted documents and APQ (app/state/persisted.py).
    persisted_documents: str | None = None
    persisted_documents_mode: Literal["off", "allow", "require"] = "allow"
    apq_max_bytes: int = Field(default=16 * 1024, ge=256, le=1024 * 1024)
    # New APQ registrations per caller per window, and documents the store keeps in all (in
    # Redis, or per process without it; the oldest registration goes first). Worst case held:
    # apq_max_documents x apq_max_bytes.
    apq_registrations: str = "100/hour"
    apq_max_documents: int = Field(default=1000, ge=1, le=1_000_000)

    @field_validator("rate_limit", "cost_budget", "apq_registrations")
    @classmethod
    def _check_limit(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if parse_limit(value).amount < 1:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    "must be <count>/<unit>, for example 600/minute or 10/second"
                ) from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    # `serve`: worker processes (`--workers` wins), and the seconds a SIGTERM'd process keeps
    # serving while not ready, before it stops (app/http/drain.py).
    workers: int = Field(default=1, ge=1, le=64)
    drain_seconds: float = Field(default=0.0, ge=0, le=300)

    # Live subscriptions (app/live/): one poll loop per distinct filter and caller scope.
    poll_interval: float = Field(default=5.0, ge=0.1, le=3600)
    poll_grace: float = Field(default=30.0, ge=0, le=3600)  # a watch outlives its last subscriber
    # Sessions per provider per watch kept in full (what includeInitial sends).
    poll_max_sessions: int = Field(default=1000, ge=1, le=100_000)
    # Pages per provider per poll that re-read the rest of each listing for ends and updates.
    poll_sweep_pages: int = Field(default=5, ge=1, le=100)
    # JSON object: provider -> its sweep pages instead, e.g. {"PREFACTOR": 40}: a listing of
    # small pages sweeps faster at the cost of more upstream calls per poll.
    poll_sweep_pages_by_provider: Annotated[
        dict[Provider, Annotated[int, Field(ge=1, le=MAX_SWEEP_PAGES)]], NoDecode
    ] = Field(default_factory=dict)
    subscription_queue: int = Field(default=100, ge=1, le=100_000)  # events a subscriber may lag
    subscription_replay: int = Field(default=1000, ge=1, le=1_000_000)  # events kept to resume
    max_subscriptions: int = Field(default=1000, ge=1, le=1_000_000)
    max_subscriptions_per_caller: int = Field(default=20, ge=1, le=1_000_000)
    # Poll loops (watches), idle ones in their grace period included: each polls the upstreams.
    max_watches: int = Field(default=1000, ge=1, le=100_000)
    max_watches_per_caller: int = Field(default=20, ge=1, le=100_000)
    # Webhooks (app/webhooks/): a JSON list of {"url", "secret", "events", "filter"}; secret
    # because each entry holds a signing secret.
    webhooks: SecretStr | None = None
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)  # one delivery attempt
    webhook_retry_first: float = Field(default=5.0, gt=0, le=3600)  # the first retry's wait
    webhook_retry_most: float = Field(default=3600.0, gt=0, le=86_400)  # the longest wait
    webhook_retry_for: float = Field(default=86_400.0, gt=0, le=7 * 86_400)  # then dead-lettered
    webhook_queue: int = Field(default=10_000, ge=1, le=1_000_000)  # messages per endpoint
    heartbeat_interval: float = Field(default=15.0, gt=0, le=3600)  # SSE comments, WS pings
    reauth_interval: float = Field(default=60.0, gt=0, le=86_400)  # re-check a stream's caller
    # Locations (app/geo/): MaxMind-format City and ASN database files, opened at start-up (a
    # path that cannot be opened stops it) and re-opened when they change; unset: no locations.
    geoip_city_db: str | None = None
    geoip_asn_db: str | None = None
    # IMPOSSIBLE_TRAVEL: the fastest a person is taken to travel between two sign-ins.
    max_travel_kmh: float = Field(default=1000.0, gt=0, le=100_000)

    @field_validator("webhooks")
    @classmethod
    def _check_webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_endpoints(value.get_secret_value())  # ValueError names the bad entry
        return value

    @property
    def webhook_endpoints(self) -> tuple[Endpoint, ...]:
        """The GATEWAY_WEBHOOKS endpoints (checked when the settings were read)."""
        return parse_endpoints(self.webhooks.get_secret_value()) if self.webhooks else ()

    @field_validator("jwt_user_claims", "jwt_session_claims", mode="before")
    @classmethod
    def _parse_claims(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError('must be a JSON object such as {"<PROVIDER>": "sub"}') from None
        return value

    @field_validator("poll_sweep_pages_by_provider", mode="before")
    @classmethod
    def _parse_sweep_pages(cls, value: object) -> object:
        return parse_sweep_pages(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> tuple[str, ...]:
        return parse_origins(value)

    @model_validator(mode="after")
    def _any_origin_anonymous_only(self) -> Settings:
        # With `*`, any web page a user opens can read the gateway through their browser. That
        # is harmless for demo data on an anonymous gateway; with callers authenticated, the
        # apps trusted with their credentials are known, so they are listed instead.
        if self.cors_origins == (ANY_ORIGIN,) and self.caller_auth:
            raise ValueError(
                "GATEWAY_CORS_ORIGINS=* is for anonymous demos only: with caller "
                "authentication configured, list the origins of the apps that call the gateway"
            )
        return self

    @field_validator("jwt_audience", mode="before")
    @classmethod
    def _split_audience(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        raise ValueError("must be a comma-separated list of audiences")

    def provider(self, provider: Provider) -> ProviderSettings:
        """`provider`'s settings (all unset, so disabled, when none were given)."""
        found = self._providers.get(provider)
        return found if found is not None else _KINDS[provider].settings_class()

    @property
    def caller_auth(self) -> bool:
        """Whether any caller authentication is configured."""
        return is_set(self.api_keys) or bool(self.jwks_url or self.jwks_file)

    @model_validator(mode="after")
    def _websockets_leave_room(self) -> Settings:
        if self.max_websockets is not None and self.max_websockets >= self.max_connections:
            raise ValueError(
                "GATEWAY_MAX_WEBSOCKETS must be below GATEWAY_MAX_CONNECTIONS "
                f"({self.max_connections}): WebSockets must leave room for plain requests"
            )
        return self

    @property
    def websocket_limit(self) -> int:
        """Open WebSockets a process accepts (GATEWAY_MAX_WEBSOCKETS, by default half the
        connection limit)."""
        if self.max_websockets is not None:
            return self.max_websockets
        return self.max_connections // 2

    @model_validator(mode="after")
    def _sweeps_within_the_call_budget(self) -> Settings:
        # A poll of a provider spends one request's call budget: its head reads, then the
        # sweep; a sweep that leaves the head no room would fail every poll.
        for provider, pages in self.poll_sweep_pages_by_provider.items():
            if pages + HEAD_CALLS > self.max_upstream_calls:
                raise ValueError(
                    f"GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER: {provider.value}: {pages} pages and "
                    f"a poll's head reads (up to {HEAD_CALLS} calls) exceed "
                    f"GATEWAY_MAX_UPSTREAM_CALLS ({self.max_upstream_calls}); raise it too"
                )
        return self

    @model_validator(mode="after")
    def _jwt_complete(self) -> Settings:
        if (self.jwks_url or self.jwks_file) and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("GATEWAY_JWT_ISSUER and GATEWAY_JWT_AUDIENCE are required with a JWKS")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise ValueError("GATEWAY_JWKS_URL must be an http(s) URL")
        return self

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, config_file: str | None = None
    ) -> Settings:
        """Settings from a TOML file (if any) and the environment, which wins.

        The file is `config_file`, else GATEWAY_CONFIG_FILE. Its keys are the variable names
        without `GATEWAY_`, in any case (`upstream_timeout`). Failures raise ConfigError naming each
        bad key where it was set.
        """
        environ = os.environ if environ is None else environ
        path = config_file or environ.get("GATEWAY_CONFIG_FILE") or None
        values, origins = _from_file(path) if path else ({}, {})
        known = _known()
        for key, value in environ.items():
            if key.startswith("GATEWAY_") and key not in _NOT_SETTINGS:
                name = key.removeprefix("GATEWAY_").lower()
                if name not in known and is_service_link(key, value):
                    continue  # Kubernetes' variables for a Service named gateway…
                values[name] = value
                origins[name] = key
        own, per_provider = _route(values, origins)
        errors: list[str] = []
        settings = None
        try:
            settings = cls.model_validate(own)
        except ValidationError as exc:
            errors += _describe(exc, origins)
        providers: dict[Provider, ProviderSettings] = {}
        for provider, given in per_provider.items():
            kind = _KINDS[provider]
            prefix = f"{provider.value.lower()}_"
            try:
                providers[provider] = parsed = kind.settings_class.model_validate(given)
            except ValidationError as exc:
                errors += _describe(exc, origins, prefix)
                continue
            if (needed := parsed.missing_credential(f"GATEWAY_{provider.value}_")) is not None:
                errors.append(f"GATEWAY_{provider.value}_URL is set, so {needed} is required")
        if errors or settings is None:
            raise ConfigError("Invalid configuration:\n  " + "\n  ".join(errors))
        settings._origins = origins
        settings._providers = providers
        return settings

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, effective value with secrets redacted, where it came from), per setting."""
        rows = []
        for kind in PROVIDERS:
            prefix = f"{kind.provider.value.lower()}_"
            own = self.provider(kind.provider)
            for field in type(own).model_fields:
                name = prefix + field
                shown = _shown(getattr(own, field))
                rows.append((f"GATEWAY_{name.upper()}", shown, self._origins.get(name, "default")))
        for name in type(self).model_fields:
            shown = _shown(getattr(self, name))
            rows.append((f"GATEWAY_{name.upper()}", shown, self._origins.get(name, "default")))
        return rows


# GATEWAY_* variables that are not settings: the config file's path, and the browser test's
# switch to refresh its screenshot.
_NOT_SETTINGS = frozenset({"GATEWAY_CONFIG_FILE", "GATEWAY_SCREENSHOT"})
_KINDS = {kind.provider: kind for kind in PROVIDERS}


def parse_sweep_pages(value: object) -> dict[Provider, int]:
    """GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER's JSON object, each provider and count checked
    here so that an error names the entry that is wrong."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError('must be a JSON object such as {"PREFACTOR": 40}') from None
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object such as {"PREFACTOR": 40}')
    known = ", ".join(p.value for p in Provider)
    pages: dict[Provider, int] = {}
    for name, count in value.items():
        try:
            provider = Provider(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a provider (one of {known})") from None
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"{provider.value}: pages must be a whole number")
        if not 1 <= count <= MAX_SWEEP_PAGES:
            raise ValueError(f"{provider.value}: pages must be 1..{MAX_SWEEP_PAGES}, not {count}")
        pages[provider] = count
    return pages


def _known() -> dict[str, tuple[Provider | None, str]]:
    """Every setting name (lower case, no GATEWAY_): whose it is and its field name there."""
    known: dict[str, tuple[Provider | None, str]] = {
        name: (None, name) for name in Settings.model_fields
    }
    for kind in PROVIDERS:
        prefix = f"{kind.provider.value.lower()}_"
        for field in kind.settings_class.model_fields:
            known[prefix + field] = (kind.provider, field)
    return known


def _route(
    values: Mapping[str, object], origins: Mapping[str, str]
) -> tuple[dict[str, object], dict[Provider, dict[str, object]]]:
    """The gateway's own values, and each provider's, by field; unknown names stop here."""
    known = _known()
    own: dict[str, object] = {}
    per_provider: dict[Provider, dict[str, object]] = {}
    unknown = []
    for name, value in values.items():
        if name not in known:
            unknown.append(name)
            continue
        provider, field = known[name]
        if provider is None:
            own[name] = value
        else:
            per_provider.setdefault(provider, {})[field] = value
    if unknown:
        lines = []
        for name in sorted(unknown):
            where = origins.get(name, f"GATEWAY_{name.upper()}")
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            # Suggest in the form it was written: a file key, or an environment variable.
            spelled = close and (close[0] if " in " in where else f"GATEWAY_{close[0].upper()}")
            hint = f"; did you mean {spelled}?" if spelled else ""
            lines.append(f"{where}: not a setting of this gateway{hint}")
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines))
    return own, per_provider


def _shown(value: object) -> str:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else "(empty)"
    if value is None or value == () or value == {}:
        return "(unset)"
    if isinstance(value, dict):
        return json.dumps({getattr(k, "value", k): v for k, v in value.items()})
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _from_file(path: str) -> tuple[dict[str, object], dict[str, str]]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"Config file {path}: cannot be read ({exc.strerror}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path}: not valid TOML ({exc}).") from None
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    for key, value in document.items():
        name = key.lower().removeprefix("gateway_")
        # API keys and webhooks may be written as a TOML array of tables; the settings read JSON.
        values[name] = (
            json.dumps(value)
            if name in ("api_keys", "webhooks") and isinstance(value, list)
            else value
        )
        origins[name] = f"{key} in {path}"
    return values, origins


def _describe(exc: ValidationError, origins: Mapping[str, str], prefix: str = "") -> list[str]:
    """One line per bad setting, naming where it was set; values are never echoed (secrets)."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            name = prefix + str(error["loc"][0])
            where = origins.get(name, f"GATEWAY_{name.upper()}")
            lines.append(f"{where}: {message}")
        else:
            lines.append(message)
    return lines
