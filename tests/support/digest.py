"""SHA-256 hex digests: how APQ and persisted documents name a document, and API keys are kept."""

from __future__ import annotations

import hashlib


def sha256(text: str) -> str:
    """The lower-case hex SHA-256 of `text`'s UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()
