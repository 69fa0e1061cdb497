"""Admission control's rules, in process: who waits, who goes next, who is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.auth.principal import Principal
from app.http.admission import Admission, Shed, Slots
from app.observability.metrics import Metrics

LONG = 60.0  # a wait no test reaches


async def settle() -> None:
    """Let every ready task run until each waits again."""
    for _ in range(10):
        await asyncio.sleep(0)


class Requests:
    """Requests entering `slots` as tasks; `outcomes` says how each ended so far."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.outcomes: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def send(self, caller: str, label: str) -> None:
        async def enter() -> None:
            try:
                admitted = await self.slots.enter(caller)
            except Shed as shed:
                self.outcomes[label] = str(shed.status)
                return
            self.outcomes[label] = "running" if admitted else "gone"

        self._tasks.append(asyncio.create_task(enter()))

    async def settled(self) -> None:
        """Wait until every request so far was admitted or refused."""
        await asyncio.gather(*self._tasks)

    def running(self) -> list[str]:
        return sorted(label for label, outcome in self.outcomes.items() if outcome == "running")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def requests() -> Any:
    made: list[Requests] = []

    def make(slots: Slots) -> Requests:
        made.append(Requests(slots))
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_a_lone_caller_takes_every_slot_then_waits_not_refused(
    requests: Callable[[Slots], Requests],
) -> None:
    slots = Slots(4, per_caller=1, queue=16, wait=LONG, busy=lambda: False)
    bff = requests(slots)
    for i in range(12):
        bff.send("bff", f"r{i}")
    await settle()
    assert bff.running() == ["r0"]  # its grant starts at per_caller
    assert slots.queued == 11

    running: list[int] = []
    for _ in range(4):
        slots.leave("bff")  # each finished request, the loop keeping up, raises the grant
        await settle()
        running.append(len(bff.running()) - len(running) - 1)
    assert running == [2, 3, 4, 4]  # running at once after each: the whole process by then
    for _ in range(7):
        slots.leave("bff")
        await settle()
    assert set(bff.outcomes.values()) == {"running"}  # nobody refused


async def test_while_the_loop_is_busy_a_callers_grant_falls_back_to_its_start(
    requests: Callable[[Slots], Requests],
) -> None:
    busy = False
    slots = Slots(8, per_caller=2, queue=32, wait=LONG, busy=lambda: busy)
    flood = requests(slots)
    for i in range(24):
        flood.send("flood", f"r{i}")
    await settle()
    for _ in range(6):
        slots.leave("flood")
        await settle()
    assert slots.running == 8  # grown to every slot

    busy = True  # heavy pages: the CPU, not the upstreams, is what they wait for
    for _ in range(8):
        slots.leave("flood")
        await settle()
    assert slots.running == 2  # back to per_caller; the rest wait
    other = requests(slots)
    other.send("other", "o1")
    await settle()
    assert other.running() == ["o1"]  # a free slot at once for another caller


async def test_a_freed_slot_goes_to_the_waiting_caller_with_the_fewest_running(
    requests: Callable[[Slots], Requests],
) -> None:
    slots = Slots(4, per_caller=8, queue=8, wait=LONG)
    sent = requests(slots)
    for label in ("a1", "a2", "a3", "b1", "a4", "a5", "b2", "c1"):
        sent.send(label[0], label)
        await settle()
    assert sent.running() == ["a1", "a2", "a3", "b1"]  # then a4, a5, b2, c1 wait, in order

    slots.leave("a")  # running: a 2, b 1, c 0
    await settle()
    assert "c1" in sent.running()
    slots.leave("a")  # a 1, b 1, c 1: between equals, who came first (a4 before b2)
    await settle()
    assert "a4" in sent.running()
    slots.leave("b")  # a 2, b 0, c 1: b2 goes before a5, which came first
    await settle()
    assert "b2" in sent.running()
    assert sent.outcomes.get("a5") is None  # still waiting


async def test_a_full_queue_drops_a_greedy_callers_newest_for_a_newcomer(
    requests: Callable[[Slots], Requests],
) -> None:
    slots = Slots(2, per_caller=8, queue=3, wait=LONG)
    sent = requests(slots)
    for label in ("a1", "a2", "a3", "a4", "a5"):
        sent.send("a", label)
        await settle()
    assert slots.queued == 3  # a3, a4, a5: a holds 5, the whole queue
    sent.send("b", "b1")  # two callers: each one's share is 1; b holds none
    await settle()
    assert sent.outcomes["a5"] == "429"  # a's newest waiting request gave way
    assert slots.queued == 3
    sent.send("a", "a6")  # a is over its share: its own newcomer is refused
    await settle()
    assert sent.outcomes["a6"] == "429"

    slots.leave("a")
    await settle()
    assert "b1" in sent.running()  # b went before a's older requests


async def test_a_saturated_process_refuses_with_503(
    requests: Callable[[Slots], Requests],
) -> None:
    slots = Slots(2, per_caller=8, queue=2, wait=LONG)
    sent = requests(slots)
    for caller in "abcd":  # four callers, one request each: a and b run, c and d wait
        sent.send(caller, caller)
        await settle()
    sent.send("e", "e")  # nobody holds more than their share
    await settle()
    assert sent.outcomes["e"] == "503"

    alone = requests(Slots(1, per_caller=1, queue=1, wait=LONG))
    for label in ("r1", "r2", "r3"):
        alone.send("bff", label)
        await settle()
    assert alone.outcomes["r3"] == "503"  # alone, a caller has no share to be over


async def test_a_request_that_waits_too_long_is_refused(
    requests: Callable[[Slots], Requests],
) -> None:
    slots = Slots(2, per_caller=8, queue=8, wait=0.05)
    sent = requests(slots)
    for label in ("a1", "a2", "a3", "b1"):
        sent.send(label[0], label)
    await sent.settled()
    # Two callers share 2 slots: a holds 2 running and 1 waiting, over its share of 1.
    assert sent.outcomes == {"a1": "running", "a2": "running", "a3": "429", "b1": "503"}
    assert slots.queued == 0


def principal_scope(name: str) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "state": {"principal": Principal(name=name)},
    }


class Client:
    """One request through the middleware: its body, and a hang-up when told."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent: list[Message] = []
        self.hang_up = asyncio.Event()
        self._delivered = False

    async def receive(self) -> Message:
        if not self._delivered:
            self._delivered = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def holding_app(release: asyncio.Event, bodies: list[bytes]) -> Callable[..., Awaitable[None]]:
    """An app that reads the body, then holds its slot until `release`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        bodies.append(message.get("body", b""))
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def test_a_waiting_request_whose_client_left_leaves_the_queue() -> None:
    release, bodies = asyncio.Event(), list[bytes]()
    metrics = Metrics()
    admission = Admission(
        holding_app(release, bodies), 1, per_caller=8, queue=4, wait=LONG, metrics=metrics
    )
    first, leaving, last = Client(b"first"), Client(b"leaving"), Client(b"last")
    tasks = [
        asyncio.create_task(admission(principal_scope("bff"), c.receive, c.send))
        for c in (first, leaving, last)
    ]
    await settle()
    assert admission.slots.queued == 2

    leaving.hang_up.set()
    await settle()
    assert tasks[1].done()
    assert admission.slots.queued == 1
    assert leaving.sent == []  # nobody to answer

    release.set()
    await asyncio.gather(*tasks)
    assert bodies == [b"first", b"last"]  # the body read while waiting reaches the app
    assert [m["status"] for m in last.sent if m["type"] == "http.response.start"] == [200]
    assert admission.slots.running == admission.slots.queued == 0
    waited = metrics.registry.get_sample_value(
        "gateway_admission_wait_seconds_count", {"outcome": "disconnected"}
    )
    assert waited == 1


async def test_a_refusal_says_why_with_retry_after() -> None:
    release, bodies = asyncio.Event(), list[bytes]()
    metrics = Metrics()
    admission = Admission(
        holding_app(release, bodies), 1, per_caller=8, queue=0, wait=LONG, metrics=metrics
    )
    running, refused = Client(b""), Client(b"")
    task = asyncio.create_task(admission(principal_scope("a"), running.receive, running.send))
    await settle()
    await admission(principal_scope("b"), refused.receive, refused.send)
    release.set()
    await task

    start, body = refused.sent
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert json.loads(body["body"]) == {
        "errors": [
            {
                "message": "The gateway is saturated: 1 requests running and 0 waiting, its "
                "limits; retry after 1 s.",
                "extensions": {"code": "OVERLOADED"},
            }
        ]
    }
    shed = metrics.registry.get_sample_value("gateway_requests_shed_total", {"reason": "process"})
    assert shed == 1
