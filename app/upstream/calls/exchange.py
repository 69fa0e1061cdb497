"""What the exchange layers pass down and back: one call's request state, and an answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Call:
    """One upstream call: what to send, and what its layers note on the way."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: object = None
    read: bool = False  # safe to send again
    # Per exchange: the credential's headers (Authenticating), and the loop time the request
    # left the gateway, kept when the exchange is cancelled (Transport; read by Deadline).
    credential: Mapping[str, str] = field(default_factory=dict)
    sent: float | None = None
    refreshed: bool = False  # the credential was renewed once after a 401
    status: int | None = None  # the status of the answer used, for telemetry


@dataclass(frozen=True, slots=True)
class Response:
    """An upstream's answer, read whole."""

    status: int
    content: bytes
    headers: Mapping[str, str]  # case-insensitive (aiohttp's), kept after release


class Layer(Protocol):
    """Sends a call on to the layer below (or the upstream) and returns the answer."""

    async def send(self, call: Call) -> Response: ...
