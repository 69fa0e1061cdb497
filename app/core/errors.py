"""Errors the gateway raises on purpose; each carries a stable `code` for `errors[].extensions`.

    GatewayError                 INTERNAL
    ├── BadUserInput             BAD_USER_INPUT    (ids, cursors, filters, page sizes)
    ├── Forbidden                FORBIDDEN         (the caller lacks a scope for this)
    ├── ConfigError              CONFIG            (a bad GATEWAY_* value; stops start-up)
    └── UpstreamError            (carries `provider`)
        ├── UpstreamUnavailable  UPSTREAM_UNAVAILABLE  (refused, reset, 5xx)
        ├── UpstreamTimeout      UPSTREAM_TIMEOUT
        │   └── RequestDeadline  UPSTREAM_TIMEOUT      (cut by the caller's deadline)
        ├── UpstreamUnauthorized UPSTREAM_UNAUTHORIZED (401/403)
        ├── UpstreamBadResponse  UPSTREAM_BAD_RESPONSE (unparseable or misshapen body, 4xx)
        ├── CallBudgetExceeded   CALL_BUDGET_EXCEEDED  (the request's upstream calls ran out)
        └── WalkIncomplete       WALK_INCOMPLETE       (a provider missed pages of this walk)

An UpstreamError whose `upstream_fault` is False was caused on the gateway's side (a deadline,
a budget): it leaves the provider out of the answer like any failure, but says nothing about
the provider, so breakers and health ignore it.

Messages are written for clients: they name the bad value, never a host, token or raw body.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises deliberately."""

    code = "INTERNAL"

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code}


class BadUserInput(GatewayError):
    """The query's arguments are invalid; nothing was changed."""

    code = "BAD_USER_INPUT"


class Forbidden(GatewayError):
    """The caller is authenticated but may not do this."""

    code = "FORBIDDEN"


class ConfigError(GatewayError):
    """A configuration value is missing or malformed."""

    code = "CONFIG"


class UpstreamError(GatewayError):
    """An upstream provider failed to give a usable answer."""

    code = "UPSTREAM_UNAVAILABLE"
    upstream_fault = True  # False: the gateway's own doing; breakers and health ignore it

    def __init__(
        self, message: str, *, provider: str, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.details = details or {}

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "provider": self.provider, **self.details}


class UpstreamUnavailable(UpstreamError):
    """The upstream refused the connection, reset it, or answered 5xx."""

    code = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    code = "UPSTREAM_TIMEOUT"


class RequestDeadline(UpstreamTimeout):
    """The caller's deadline passed before the upstream answered (or before the call left)."""

    upstream_fault = False


class UpstreamUnauthorized(UpstreamError):
    """The upstream rejected the gateway's credentials (401/403)."""

    code = "UPSTREAM_UNAUTHORIZED"


class UpstreamBadResponse(UpstreamError):
    """The upstream's answer did not parse, did not have the documented shape, or was a 4xx."""

    code = "UPSTREAM_BAD_RESPONSE"


class CallBudgetExceeded(UpstreamError):
    """The request used its budget of upstream calls; the gateway did not make this one."""

    code = "CALL_BUDGET_EXCEEDED"
    upstream_fault = False


class WalkIncomplete(UpstreamError):
    """A provider failed on earlier pages of a walk; some of its sessions were not listed."""

    code = "WALK_INCOMPLETE"
    upstream_fault = False
