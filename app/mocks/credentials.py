"""The secrets the mock upstreams accept."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Credentials"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """One accepted credential per upstream; anything else is rejected with 401."""

    privx_token: str = "privx-demo-token"
    prefactor_token: str = "prefactor-demo-key"
    zitadel_token: str = "zitadel-demo-pat"
    hyperid_session: str = "hyperid-demo-session"
