"""Schema details clients rely on: enum values described, Authorization ids global."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core import ids
from app.core.records import Provider
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

AUTHORIZATIONS = """
{ sessions(first: 50, filter: {providers: [HYPERID]}) {
    nodes { authorizations(first: 20) { edges { node { id nativeId kind } } } } } }
"""


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    with LiveStack() as stack:
        yield stack


def test_every_enum_value_has_its_own_description(live: LiveStack) -> None:
    query = "{ __schema { types { name kind enumValues { name description } } } }"
    types = post(live.url, query)["data"]["__schema"]["types"]
    ours = [t for t in types if t["kind"] == "ENUM" and not t["name"].startswith("__")]
    assert len(ours) >= 8
    assert [
        (t["name"], v["name"]) for t in ours for v in t["enumValues"] if not v["description"]
    ] == []


def test_authorization_ids_are_global_and_the_native_id_is_kept(live: LiveStack) -> None:
    sessions = post(live.url, AUTHORIZATIONS)["data"]["sessions"]["nodes"]
    found = {
        (edge["node"]["id"], edge["node"]["kind"], edge["node"]["nativeId"])
        for session in sessions
        for edge in session["authorizations"]["edges"]
    }
    assert {kind for _, kind, _ in found} == {"SITE", "APP"}
    for global_id, kind, native_id in found:
        assert ids.decode(global_id) == (
            ids.AUTHORIZATION,
            Provider.HYPERID,
            f"{kind}:{native_id}",
        )
    # One id per authorization: a normalised cache keeps them apart.
    assert len({global_id for global_id, _, _ in found}) == len(found)


def test_node_answers_null_for_an_authorization_id(live: LiveStack) -> None:
    global_id = ids.encode(ids.AUTHORIZATION, Provider.HYPERID, "SITE:1")
    result = post(live.url, "query ($id: ID!) { node(id: $id) { id } }", {"id": global_id})
    assert result == {"data": {"node": None}}
