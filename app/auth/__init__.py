"""Caller authentication (API keys, JWTs) and the Principal that scopes what a caller sees."""

from __future__ import annotations

from app.auth.authenticator import Authenticator, Unauthenticated
from app.auth.principal import ANONYMOUS, READ_ALL, REVOKE_ALL, REVOKE_OWN, Principal

__all__ = [
    "ANONYMOUS",
    "READ_ALL",
    "REVOKE_ALL",
    "REVOKE_OWN",
    "Authenticator",
    "Principal",
    "Unauthenticated",
]
