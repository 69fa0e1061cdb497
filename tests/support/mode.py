"""The gateway mode this test run uses: `GATEWAY_FAST_PATH=false pytest` runs every test without
the fast paths (docs/testing.md)."""

from __future__ import annotations

import os
from typing import Any

from app.settings import Settings
from resolvers.schema import Limits

# Read as the gateway reads it, so "0", "no" and "False" mean what they mean there.
FAST_PATH = Settings.from_environ(
    {k: v for k, v in os.environ.items() if k == "GATEWAY_FAST_PATH"}
).fast_path


def limits(**overrides: Any) -> Limits:
    """Limits for an in-process schema, in this run's mode."""
    return Limits(fast_path=FAST_PATH, **overrides)
