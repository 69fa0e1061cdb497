"""One raw HTTP exchange with any method and headers: status, headers (lower-case names), body."""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from urllib.parse import urlsplit


def exchange(
    url: str, method: str, headers: Mapping[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request to `url` (path and query kept) and read the whole answer."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        answer = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answer, response.read()
    finally:
        connection.close()
