"""Raw HTTP exchanges: any method and headers, or a JSON body with an API key."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
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


def post_json(
    url: str, body: dict[str, Any], key: str | None = None, accept: str = "application/json"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST `body` as JSON with `key` as X-API-Key: status, headers (lower-case names), JSON."""
    headers = {"Content-Type": "application/json", "Accept": accept}
    if key is not None:
        headers["X-API-Key"] = key
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, got, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in got.items()}, json.loads(raw)
