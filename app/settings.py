"""Settings, read once from GATEWAY_* environment variables into a frozen object."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import ConfigError
from app.upstream.records import Provider

_POOL_ID = re.compile(r"^[0-9a-z]{1,64}$")


def _origin(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) origin such as https://privx.example.com")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use the _TOKEN/_COOKIE variable")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be an origin only; the gateway appends the documented paths")
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"


class Settings(BaseSettings):
    """The gateway's configuration; a provider whose URL is unset is disabled."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)  # setting -> where it was set

    privx_url: str | None = None
    privx_token: SecretStr | None = None
    privx_oauth_client_id: str | None = None
    privx_oauth_client_secret: SecretStr | None = None
    privx_api_client_id: str | None = None
    privx_api_client_secret: SecretStr | None = None
    # Name of a caller request header whose value is forwarded as the upstream credential.
    privx_forward_header: str | None = None
    prefactor_forward_header: str | None = None
    zitadel_forward_header: str | None = None
    hyperid_forward_header: str | None = None
    prefactor_url: str | None = None
    prefactor_token: SecretStr | None = None
    prefactor_pool_ids: Annotated[tuple[str, ...], NoDecode] = ()
    zitadel_url: str | None = None
    zitadel_token: SecretStr | None = None
    hyperid_url: str | None = None
    hyperid_cookie: SecretStr | None = None
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
    # Transport limits (app/serving.py).
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    body_timeout: float = Field(default=10.0, gt=0, le=300)
    keepalive_timeout: float = Field(default=5.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    # Caller authentication: API keys (JSON list or file path) and/or JWTs checked by a JWKS.
    api_keys: SecretStr | None = None
    jwks_url: str | None = None
    jwks_file: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: Annotated[tuple[str, ...], NoDecode] = ()
    # JSON object: provider -> claim holding the caller's user id there, e.g. {"ZITADEL": "sub"}.
    jwt_user_claims: Annotated[dict[Provider, str], NoDecode] = Field(default_factory=dict)
    allow_anonymous: bool = False
    # OpenTelemetry spans per request and per upstream call (needs the `tracing` extra).
    tracing: bool = False
    # Query limits.
    introspection: bool = True
    max_depth: int = Field(default=15, ge=2, le=100)
    max_aliases: int = Field(default=30, ge=0, le=1000)
    max_tokens: int = Field(default=5000, ge=100, le=1_000_000)
    max_cost: int = Field(default=50_000, ge=1, le=100_000_000)
    # Checked in linear time before validation (resolvers/document_limits.py).
    max_fields: int = Field(default=1000, ge=10, le=1_000_000)
    max_selections: int = Field(default=200, ge=10, le=100_000)
    max_spreads: int = Field(default=200, ge=0, le=100_000)
    max_same_name: int = Field(default=50, ge=2, le=100_000)
    max_field_comparisons: int = Field(default=100_000, ge=1000, le=10_000_000)
    # Upstream calls one request may make, retries included (app/upstream/accounting.py).
    max_upstream_calls: int = Field(default=100, ge=1, le=100_000)
    # Admission control: requests in flight per process, and per caller within that.
    max_in_flight: int = Field(default=64, ge=1, le=100_000)
    max_in_flight_per_caller: int = Field(default=32, ge=1, le=100_000)

    _check_origin = field_validator(
        "privx_url", "prefactor_url", "zitadel_url", "hyperid_url", mode="before"
    )(lambda value: _origin(value))

    @field_validator("jwt_user_claims", mode="before")
    @classmethod
    def _parse_claims(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError('must be a JSON object such as {"ZITADEL": "sub"}') from None
        return value

    @field_validator("jwt_audience", mode="before")
    @classmethod
    def _split_audience(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        raise ValueError("must be a comma-separated list of audiences")

    @field_validator("prefactor_pool_ids", mode="before")
    @classmethod
    def _split_pool_ids(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a comma-separated list of pool ids")
        for pool_id in value:
            if not isinstance(pool_id, str) or not _POOL_ID.match(pool_id):
                raise ValueError(f"'{pool_id}' is not a Prefactor pool id")
        return tuple(value)

    @property
    def privx_oauth(self) -> bool:
        """Whether PrivX tokens come from its OAuth endpoint (all four values set)."""
        return bool(
            self.privx_oauth_client_id
            and _set(self.privx_oauth_client_secret)
            and self.privx_api_client_id
            and _set(self.privx_api_client_secret)
        )

    @property
    def caller_auth(self) -> bool:
        """Whether any caller authentication is configured."""
        return _set(self.api_keys) or bool(self.jwks_url or self.jwks_file)

    @model_validator(mode="after")
    def _credentials_present(self) -> Settings:
        needs = [
            ("PRIVX", self.privx_url, _set(self.privx_token) or self.privx_oauth, "TOKEN"),
            ("PREFACTOR", self.prefactor_url, _set(self.prefactor_token), "TOKEN"),
            ("ZITADEL", self.zitadel_url, _set(self.zitadel_token), "TOKEN"),
            ("HYPERID", self.hyperid_url, _set(self.hyperid_cookie), "COOKIE"),
        ]
        for provider, url, has_secret, secret in needs:
            forwarded = getattr(self, f"{provider.lower()}_forward_header")
            if url and not has_secret and not forwarded:
                extra = ", the four GATEWAY_PRIVX_*_CLIENT_* values" if provider == "PRIVX" else ""
                raise ValueError(
                    f"GATEWAY_{provider}_URL is set, so GATEWAY_{provider}_{secret}{extra} or "
                    f"GATEWAY_{provider}_FORWARD_HEADER is required"
                )
        if (self.jwks_url or self.jwks_file) and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("GATEWAY_JWT_ISSUER and GATEWAY_JWT_AUDIENCE are required with a JWKS")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise ValueError("GATEWAY_JWKS_URL must be an http(s) URL")
        if self.prefactor_url and not self.prefactor_pool_ids:
            raise ValueError(
                "GATEWAY_PREFACTOR_POOL_IDS is required when GATEWAY_PREFACTOR_URL is set "
                "(Prefactor lists sessions per pool)"
            )
        return self

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, config_file: str | None = None
    ) -> Settings:
        """Settings from a TOML file (if any) and the environment, which wins.

        The file is `config_file`, else GATEWAY_CONFIG_FILE. Its keys are the variable names
        without `GATEWAY_`, in any case (`privx_url`). Failures raise ConfigError naming each
        bad key where it was set.
        """
        environ = os.environ if environ is None else environ
        path = config_file or environ.get("GATEWAY_CONFIG_FILE") or None
        values, origins = _from_file(path) if path else ({}, {})
        for key, value in environ.items():
            if key.startswith("GATEWAY_") and key != "GATEWAY_CONFIG_FILE":
                name = key.removeprefix("GATEWAY_").lower()
                values[name] = value
                origins[name] = key
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, origins)) from None
        settings._origins = origins
        return settings

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, effective value with secrets redacted, where it came from), per setting."""
        rows = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "********" if value.get_secret_value() else "(empty)"
            elif value is None or value == () or value == {}:
                shown = "(unset)"
            elif isinstance(value, dict):
                shown = json.dumps({getattr(k, "value", k): v for k, v in value.items()})
            elif isinstance(value, tuple):
                shown = ",".join(value)
            else:
                shown = str(value)
            rows.append((f"GATEWAY_{name.upper()}", shown, self._origins.get(name, "default")))
        return rows


def _from_file(path: str) -> tuple[dict[str, object], dict[str, str]]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"Config file {path}: cannot be read ({exc.strerror}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path}: not valid TOML ({exc}).") from None
    known = set(Settings.model_fields)
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    unknown = []
    for key, value in document.items():
        name = key.lower().removeprefix("gateway_")
        if name not in known:
            unknown.append(key)
            continue
        # API keys may be written as a TOML array of tables; the setting reads JSON.
        values[name] = (
            json.dumps(value) if name == "api_keys" and isinstance(value, list) else value
        )
        origins[name] = f"{key} in {path}"
    if unknown:
        raise ConfigError(
            f"Config file {path}: unknown key(s) {', '.join(sorted(unknown))}; keys are the "
            "GATEWAY_* variable names without the prefix, e.g. privx_url."
        )
    return values, origins


def _set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    """One line per bad setting, naming where it was set; values are never echoed (secrets)."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            name = str(error["loc"][0])
            where = origins.get(name, f"GATEWAY_{name.upper()}")
            lines.append(f"{where}: {message}")
        else:
            lines.append(message)
    return "Invalid configuration:\n  " + "\n  ".join(lines)
