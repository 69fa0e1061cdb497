"""The secrets the mock upstreams accept."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Credentials"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """One accepted credential per upstream; anything else is rejected with 401."""

    privx_token: str = "privx-demo-token"
    # PrivX OAuth2 password grant: OAuth client (Basic auth) + API client (username/password).
    privx_oauth_client_id: str = "privx-external"
    privx_oauth_client_secret: str = "privx-oauth-demo-secret"
    privx_api_client_id: str = "gateway-api-client"
    privx_api_client_secret: str = "privx-api-demo-secret"
    privx_token_lifetime: int = 300  # seconds an issued access token stays valid
    prefactor_token: str = "prefactor-demo-key"
    zitadel_token: str = "zitadel-demo-pat"
    hyperid_session: str = "hyperid-demo-session"
    # An Ory Network project API key; empty: no check, as on a self-hosted admin port.
    kratos_token: str = "ory_pat_kratos-demo-key"
