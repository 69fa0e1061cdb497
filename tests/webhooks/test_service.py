"""The webhooks' subscription to the hub, with in-process fake providers and a hand-run clock."""

from __future__ import annotations

import asyncio
import base64

from app.core.records import Provider
from app.listing.filter import SessionFilter
from app.state.shared import Shared
from app.webhooks.config import EVENTS, Endpoint
from app.webhooks.message import Message
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.service import Webhooks
from tests.live.test_hub import FakeProvider, make_hub, record, settle
from tests.support.net import free_port

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
# Nothing listens there: every delivery fails and its message stays queued.
NOWHERE = Endpoint(
    f"http://127.0.0.1:{free_port()}/hooks", SECRET, frozenset(EVENTS), SessionFilter()
)


async def test_a_burst_past_the_subscription_queue_is_replayed_not_lost() -> None:
    kratos = FakeProvider(Provider.KRATOS)
    kratos.records = [record(f"old{i}", minute=i) for i in range(3)]
    hub, clock = make_hub(kratos, queue=2)
    webhooks = Webhooks([NOWHERE], hub, Shared(None), WebhookMetrics())
    await webhooks.start()
    try:
        await settle()  # the first poll: the starting point, no events
        kratos.records += [record(f"new{i}", minute=10 + i) for i in range(5)]
        await clock.advance(6.0)  # five CREATED at once, past a queue of two
        await settle()
        queue = webhooks.deliveries[0].queue
        assert await queue.depth() == 5  # each once: no replayed duplicate, no initial flood
        assert hub.metrics.dropped._value.get() == 1  # the pump was dropped, and resumed
        kratos.records = kratos.records[:-1]
        await clock.advance(6.0)
        await clock.advance(6.0)  # absent from two polls: ENDED
        await settle()
        assert await queue.depth() == 6
    finally:
        await webhooks.close()
        await hub.close()


async def test_closing_as_a_message_wakes_the_deliverer_stops_it() -> None:
    hub, _ = make_hub(FakeProvider(Provider.KRATOS))
    webhooks = Webhooks([NOWHERE], hub, Shared(None), WebhookMetrics())
    await webhooks.start()
    try:
        await settle()  # the deliverer waits for its wake
        message = Message("msg_1", "s1", "session.created", b"{}", 1.0)
        await webhooks.deliveries[0].queue.put(message)  # wakes it, in the turn it is stopped
    finally:
        closing = asyncio.create_task(webhooks.close())
        # A lost cancellation would leave the deliverer running and `close` waiting for ever.
        done, _ = await asyncio.wait([closing], timeout=10)
        for task in webhooks._tasks:
            task.cancel()  # the test's own clean-up, if it failed
        await closing
        await hub.close()
    assert closing in done
