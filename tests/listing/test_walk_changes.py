"""Walks while sessions come and go: the promise of app/listing/paginate.py, by generated histories.

Between pages, sessions are created and deleted at the head, at the tail, just ahead of the
cursor, just behind it and in the cursor's own instant, in each of the three kinds of stream
and in both orders and directions. Every session that exists for the whole walk must be visited
exactly once, none twice, and creation times must never go backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import ids
from app.core.records import Provider, SessionRecord, SessionStatus
from app.listing.cursor import CursorState
from app.listing.paginate import paginate
from app.listing.streams import AscendingStream, LocalStream, OffsetStream, Stream
from app.upstream.providers.privx.records import PrivxExtras

EPOCH = datetime(2024, 5, 1, tzinfo=UTC)
EXTRAS = PrivxExtras("login", None, None, None, None, False)
PROVIDERS = (Provider.PRIVX, Provider.PREFACTOR, Provider.HYPERID)
OPS = (
    "insert_head",
    "insert_tail",
    "insert_ahead",
    "insert_tie",
    "delete_ahead",
    "delete_behind",
    "delete_any",
)


def record(stream: int, serial: int, second: int) -> SessionRecord:
    provider = PROVIDERS[stream]
    native_id = f"{stream}-{serial:04d}"
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=SessionStatus.ACTIVE,
        created_at=EPOCH + timedelta(seconds=second),
        extras=EXTRAS,
    )


@dataclass
class World:
    """Three upstream listings that change between pages; each keeps its own tie order.

    Listing 1 is the oldest-first kind (Prefactor): its sessions are only ever created newest.
    """

    lists: list[list[SessionRecord]]
    serial: int = 10_000
    calls: int = 0
    deleted: set[str] = field(default_factory=set)

    def ordered(self, index: int) -> list[SessionRecord]:
        # Ties by native id ascending in both directions (as SQL `ORDER BY created, id` would).
        return sorted(self.lists[index], key=lambda r: (r.created_at, r.native_id))

    def streams(self, descending: bool, residual: bool) -> list[Stream]:
        def keep(r: SessionRecord) -> bool:
            return int(r.native_id.split("-")[1]) % 3 != 0

        pred = keep if residual else None

        async def offset_page(
            offset: int, limit: int, desc: bool
        ) -> tuple[list[SessionRecord], int]:
            self.calls += 1
            view = self.ordered(0)
            if desc:
                view = sorted(view, key=lambda r: r.created_at, reverse=True)  # stable: ids asc
            return view[offset : offset + limit], len(view)

        async def ascending_page(
            offset: int, limit: int, desc: bool
        ) -> tuple[list[SessionRecord], int]:
            self.calls += 1
            view = self.ordered(1)
            return view[offset : offset + limit], len(view)

        async def load() -> list[SessionRecord]:
            self.calls += 1
            return list(self.lists[2])

        return [
            OffsetStream("a", PROVIDERS[0], offset_page, descending=descending, residual=pred),
            AscendingStream(
                "b", PROVIDERS[1], ascending_page, descending=descending, residual=pred, max_chunk=5
            ),
            LocalStream("c", PROVIDERS[2], load, pred, descending=descending),
        ]

    def apply(self, op: str, index: int, pick: int, cursor: CursorState, walk_later: bool) -> None:
        """One change to listing `index`; `walk_later`: the walk goes towards later times."""
        items = self.ordered(index)
        stamp = cursor.created_at
        ahead = [r for r in items if (r.created_at > stamp) == walk_later and r.created_at != stamp]
        behind = [
            r for r in items if (r.created_at < stamp) == walk_later and r.created_at != stamp
        ]
        self.serial += 1
        if index == 1 and op.startswith("insert"):
            # A Prefactor pool only grows at its newest end: PFIDs are minted in time order.
            op = "insert_tail"
        if op == "insert_head":
            second = 0 if not items else int((items[0].created_at - EPOCH).total_seconds()) - 1
            self.lists[index].append(record(index, self.serial, second))
        elif op == "insert_tail":
            last = int((items[-1].created_at - EPOCH).total_seconds()) + 1 if items else 0
            self.lists[index].append(record(index, self.serial, last))
        elif op == "insert_ahead" and ahead:
            near = ahead[0] if walk_later else ahead[-1]
            self.lists[index].append(record(index, self.serial, _second(near)))
        elif op == "insert_tie":
            self.lists[index].append(record(index, self.serial, _second_of(stamp)))
        elif op in ("delete_ahead", "delete_behind", "delete_any"):
            pool = {"delete_ahead": ahead, "delete_behind": behind, "delete_any": items}[op]
            if pool:
                if op == "delete_ahead":
                    victim = (
                        pool[min(pick, len(pool) - 1)]
                        if walk_later
                        else pool[-1 - min(pick, len(pool) - 1)]
                    )
                else:
                    victim = pool[pick % len(pool)]
                self.lists[index].remove(victim)
                self.deleted.add(victim.global_id)


def _second(r: SessionRecord) -> int:
    return _second_of(r.created_at)


def _second_of(when: datetime) -> int:
    return int((when - EPOCH).total_seconds())


@st.composite
def histories(draw: st.DrawFn) -> dict[str, object]:
    sizes = draw(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 10)))
    spread = draw(st.integers(1, 40))
    lists = [
        [record(i, n, (n * 7919 + i * 31) % spread) for n in range(size)]
        for i, size in enumerate(sizes)
    ]
    changes = draw(
        st.lists(
            st.lists(
                st.tuples(st.sampled_from(OPS), st.integers(0, 2), st.integers(0, 5)), max_size=3
            ),
            max_size=30,
        )
    )
    return {
        "lists": lists,
        "changes": changes,
        "size": draw(st.sampled_from([1, 2, 3, 7])),
        "descending": draw(st.booleans()),
        "forward": draw(st.booleans()),
        "residual": draw(st.booleans()),
    }


async def _walk(world: World, history: dict[str, object]) -> list[SessionRecord]:
    descending, forward = bool(history["descending"]), bool(history["forward"])
    changes = list(history["changes"])  # type: ignore[call-overload]
    size = int(history["size"])  # type: ignore[call-overload]
    seen: list[SessionRecord] = []
    cursor: CursorState | None = None
    for turn in range(400):
        page = await paginate(
            world.streams(descending, bool(history["residual"])),
            descending=descending,
            fingerprint="f",
            forward=forward,
            size=size,
            cursor=cursor,
        )
        assert not page.failures
        assert not page.gaps
        edges = page.edges if forward else list(reversed(page.edges))
        seen += [e.record for e in edges]
        more = page.has_next if forward else page.has_previous
        if not edges or not more:
            return seen
        cursor = edges[-1].state
        # The walk goes towards later creation times when order and direction agree.
        walk_later = descending != forward
        for op, index, pick in changes[turn] if turn < len(changes) else ():
            world.apply(op, index, pick, cursor, walk_later)
    raise AssertionError("the walk did not end")


@settings(max_examples=600, deadline=None)
@given(history=histories())
async def test_every_session_that_exists_for_the_whole_walk_is_visited_once(
    history: dict[str, object],
) -> None:
    lists = [list(items) for items in history["lists"]]  # type: ignore[attr-defined]
    world = World(lists)
    initial = {r.global_id: r for items in lists for r in items}

    seen = await _walk(world, history)

    seen_ids = [r.global_id for r in seen]
    assert len(seen_ids) == len(set(seen_ids)), "a session was returned twice"
    residual = bool(history["residual"])
    must = {
        g
        for g, r in initial.items()
        if g not in world.deleted and (not residual or int(r.native_id.split("-")[1]) % 3 != 0)
    }
    assert must <= set(seen_ids), f"skipped: {sorted(must - set(seen_ids))}"
    times = [r.created_at for r in seen]
    walk_later = bool(history["descending"]) != bool(history["forward"])
    assert times == sorted(times, reverse=not walk_later), "the walk went back in time"


async def test_an_unchanged_world_costs_one_call_per_listing_per_page() -> None:
    lists = [[record(i, n, n * 3 + i) for n in range(30)] for i in range(3)]
    world = World(lists)
    cursor = None
    for _ in range(4):
        world.calls = 0
        page = await paginate(
            world.streams(True, False),
            descending=True,
            fingerprint="f",
            forward=True,
            size=4,
            cursor=cursor,
        )
        cursor = page.edges[-1].state
        # The Prefactor-like listing learns its size once per walk with its first page.
        assert world.calls <= 4
    assert world.calls == 3


@settings(max_examples=400, deadline=None)
@given(
    sizes=st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 6)),
    spread=st.integers(1, 4),
    size=st.sampled_from([1, 2, 3]),
    descending=st.booleans(),
    turn=st.integers(0, 40),
)
async def test_turning_back_mid_walk_shows_exactly_what_came_before(
    sizes: tuple[int, int, int], spread: int, size: int, descending: bool, turn: int
) -> None:
    # Many sessions share instants (spread is small), and the upstreams order ties their way.
    lists = [
        [record(i, n, (n * 7919 + i * 31) % spread) for n in range(count)]
        for i, count in enumerate(sizes)
    ]
    world = World(lists)

    async def page(forward: bool, cursor: CursorState | None) -> tuple[list[str], bool, object]:
        got = await paginate(
            world.streams(descending, False),
            descending=descending,
            fingerprint="f",
            forward=forward,
            size=size,
            cursor=cursor,
        )
        edges = got.edges if forward else got.edges[::-1]
        more = got.has_next if forward else got.has_previous
        return [e.record.global_id for e in edges], more, edges

    # Forward to some page, then back from its first session to the start.
    shown: list[str] = []
    cursor = None
    first_of_page = None
    for _ in range(turn + 1):
        ids_, more, edges = await page(True, cursor)
        if not ids_:
            break
        first_of_page = edges[0].state  # type: ignore[index]
        shown_before = list(shown)
        shown += ids_
        cursor = edges[-1].state  # type: ignore[index]
        if not more:
            break
    if first_of_page is None:
        return
    back: list[str] = []
    cursor = first_of_page
    for _ in range(200):
        ids_, more, edges = await page(False, cursor)
        back += ids_
        if not ids_ or not more:
            break
        cursor = edges[-1].state  # type: ignore[index]
    assert len(back) == len(set(back)), "a session was shown twice going back"
    assert set(back) == set(shown_before), "going back did not show exactly what came before"
