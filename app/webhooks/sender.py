"""One delivery attempt: a signed POST (Standard Webhooks headers) and what its answer means."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from app.webhooks.config import Endpoint
from app.webhooks.message import Message


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    retry_after: float | None = None  # seconds the receiver asked us to wait
    detail: str = ""  # for the log: a status, or an error's class (never a body or URL)


class Sender:
    """POSTs messages to one endpoint, each attempt signed afresh (its own timestamp)."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession) -> None:
        self.endpoint = endpoint
        self._signer = Webhook(endpoint.secret)
        self._session = session

    async def send(self, message: Message) -> Answer:
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(message.id, now, message.body),
        }
        try:
            async with self._session.post(
                self.endpoint.url, data=message.body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()  # the body is not used: read it so the connection is reused
                status = response.status
                retry_after = parse_retry_after(response.headers.get("retry-after"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Answer(Outcome.FAILED, None, type(exc).__name__)
        if 200 <= status < 300:
            return Answer(Outcome.DELIVERED, None, str(status))
        if status == 410:
            return Answer(Outcome.GONE, None, str(status))
        return Answer(Outcome.FAILED, retry_after, str(status))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date); None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - time.time(), 0.0)
