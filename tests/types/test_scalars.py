"""DateTime is specified (@specifiedBy) and sends what its description says, in both modes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from resolvers.types.scalars import DATE_TIME_SPEC
from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server

SENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
TIMES = (
    "{ sessions(first: 100) { nodes { createdAt updatedAt lastSeenAt expiresAt tokenExpiresAt } } }"
)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStack]:
    with LiveStack() as stack:
        yield stack


def test_date_time_is_specified_by_the_date_time_scalar_spec(live: LiveStack) -> None:
    query = '{ __type(name: "DateTime") { specifiedByURL description } }'
    found = post(live.url, query)["data"]["__type"]
    assert found["specifiedByURL"] == DATE_TIME_SPEC
    assert "RFC 3339" in found["description"]


def test_every_timestamp_sent_is_utc_rfc_3339_as_described(live: LiveStack) -> None:
    nodes = post(live.url, TIMES)["data"]["sessions"]["nodes"]
    sent = [v for node in nodes for v in node.values() if v is not None]
    assert len(sent) >= 100
    assert [v for v in sent if not SENT.match(v)] == []


@pytest.mark.parametrize(
    ("since", "accepted"),
    [
        ("2020-01-01T00:00:00Z", True),
        ("2020-01-01T02:00:00.5+02:00", True),
        ("2020-01-01T00:00:00", False),
        ("yesterday", False),
    ],
)
def test_an_offset_is_required_in_input(live: LiveStack, since: str, accepted: bool) -> None:
    query = "query ($f: SessionFilterInput) { sessions(filter: $f, first: 1) { totalCount } }"
    result: dict[str, Any] = post(live.url, query, {"f": {"createdAt": {"since": since}}})
    assert ("errors" not in result) is accepted, result
    if not accepted:
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
