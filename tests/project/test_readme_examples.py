"""The example queries of docs/examples.md (README's among them), run by a real GraphQL client
(gql) against the live gateway."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

from tests.support.live import LiveStack
from tests.support.paths import ROOT
from tests.support.people import PeopleStack, active_person, bearer, people_stack

pytestmark = pytest.mark.server

_BLOCK = re.compile(r"```graphql\n(.*?)```", flags=re.S)
EXAMPLES = _BLOCK.findall((ROOT / "docs" / "examples.md").read_text())
# These ask for the caller's own person: they run with a person's token (tests/support/people.py).
PERSONAL = [q for q in EXAMPLES if "viewer" in q or "signOutOtherSessions" in q]


def test_the_examples_are_there() -> None:
    assert len(EXAMPLES) >= 5


def test_the_readme_example_is_one_of_them() -> None:
    # README shows one example; it runs below as one of docs/examples.md's, so it cannot drift.
    shown = _BLOCK.findall((ROOT / "README.md").read_text())
    assert shown
    assert all(query in EXAMPLES for query in shown)


@pytest.mark.parametrize(
    "query", [q for q in EXAMPLES if q not in PERSONAL], ids=lambda q: q.split()[1]
)
async def test_readme_example_runs(live: LiveStack, query: str) -> None:
    if query.startswith("subscription"):
        # Over graphql-transport-ws; its first event (includeInitial) is the example's result.
        ws = WebsocketsTransport(
            url=live.url.replace("http://", "ws://"),
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        async with Client(transport=ws) as stream:
            result = await anext(aiter(stream.subscribe(gql(query))))
        assert result["sessionEvents"]["session"]
        return
    transport = AIOHTTPTransport(url=live.url)
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        result = await session.execute(gql(query))

    (field,) = result.values()
    assert field  # every example returns data from the mock upstreams
    if "nodes" in field or "edges" in field:
        rows = field.get("nodes") or field.get("edges")
        assert rows


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeopleStack]:
    with people_stack(tmp_path_factory.mktemp("examples")) as stack:
        yield stack


async def test_the_personal_examples_run_with_a_persons_token(people: PeopleStack) -> None:
    assert [q.split()[1] for q in PERSONAL] == ["WhereAmISignedIn", "SignOutOtherSessions"]
    person, current = active_person(people)
    transport = AIOHTTPTransport(url=people.url, headers=bearer(people.token(person, current)))
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        page = await session.execute(gql(PERSONAL[0]))
        sign_out = await session.execute(gql(PERSONAL[1]))
        # Another page, after signing out: the current session alone is left.
        after = await session.execute(gql(PERSONAL[0]))

    viewer = page["viewer"]
    assert viewer["currentSession"]["id"] == current.global_id
    assert len({n["provider"] for n in viewer["sessions"]["nodes"]}) >= 3
    assert [n["id"] for n in viewer["sessions"]["nodes"] if n["current"]] == [current.global_id]
    assert sign_out["signOutOtherSessions"]["ended"]
    assert sign_out["signOutOtherSessions"]["failed"] == []
    assert [n["id"] for n in after["viewer"]["sessions"]["nodes"]] == [current.global_id]
