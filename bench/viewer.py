"""The viewer workload's callers: a signing key, its JWKS file and one token per bench user.

Each token names the user's PrivX, Prefactor and ZITADEL ids in the claims the demo uses
(app/mocks/viewer.py), so the gateway makes that person's listings; no people file is needed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.mocks.viewer import AUDIENCE, ISSUER, KEY_ID, USER_CLAIMS


def prepare(mocks: dict[str, Any], folder: Path) -> None:
    """Write the JWKS into `folder`; add `viewer_env` and `viewer_tokens` to `mocks`."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = folder / "viewer-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public, "kid": KEY_ID, "alg": "ES256", "use": "sig"}]}))
    now = int(time.time())
    tokens = []
    for index, user in enumerate(mocks["users"]):
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"bench-person-{index}",
            "iat": now,
            "exp": now + 6 * 3600,
        }
        for provider in ("PRIVX", "PREFACTOR", "ZITADEL"):
            claims[USER_CLAIMS[provider]] = user[provider]
        tokens.append(jwt.encode(claims, key, algorithm="ES256", headers={"kid": KEY_ID}))
    mocks["viewer_tokens"] = tokens
    mocks["viewer_env"] = {
        "GATEWAY_JWKS_FILE": str(jwks),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_JWT_USER_CLAIMS": json.dumps(USER_CLAIMS),
    }
