"""The README's example queries, run by a real GraphQL client (gql) against the live gateway."""

from __future__ import annotations

import re

import pytest
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

from tests.support.live import LiveStack
from tests.support.paths import ROOT

pytestmark = pytest.mark.server

README = ROOT / "README.md"
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("query", EXAMPLES, ids=lambda q: q.split()[1])
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
