"""Fuzzed query variables and cursors: never a 500, never INTERNAL, never a secret."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.live import LiveStack

pytestmark = pytest.mark.server

QUERY = """
query ($first: Int, $after: String, $last: Int, $before: String,
       $filter: SessionFilterInput, $orderBy: SessionOrder, $id: ID!) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount missingProviders edges { cursor node { id provider } }
  }
  session(id: $id) { id }
}
"""
SECRETS = ("privx-demo-token", "prefactor-demo-key", "zitadel-demo-pat", "hyperid-demo-session")

texts = st.text(max_size=40)
ints = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.integers(-2, 110))
cursors = st.one_of(
    st.none(),
    texts,
    st.builds(lambda a, b: f"1.{a}.{b}", st.text("ABCDEFabcdef0123456789-_", max_size=30), texts),
)
ranges = st.fixed_dictionaries(
    {},
    optional={
        "since": st.one_of(texts, st.just("2024-05-14T08:00:00Z"), st.just("2024-05-14T08:00:00")),
        "until": st.one_of(texts, st.just("2023-01-01T00:00:00+02:00")),
    },
)
filters = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "providers": st.lists(st.sampled_from(["PRIVX", "ZITADEL", "HYPERID", "NOPE"])),
            "ids": st.lists(texts, max_size=3),
            "userIds": st.lists(texts, max_size=3),
            "users": st.lists(
                st.fixed_dictionaries(
                    {"provider": st.sampled_from(["PRIVX", "PREFACTOR", "X"]), "nativeId": texts}
                ),
                max_size=2,
            ),
            "statuses": st.lists(st.sampled_from(["ACTIVE", "EXPIRED", "bogus"])),
            "createdAt": ranges,
            "expiresAt": ranges,
            "remoteAddress": st.one_of(texts, st.just("203.0.113.0/24"), st.just("::1")),
            "userAgent": texts,
        },
    ),
)
variables = st.fixed_dictionaries(
    {
        "first": ints,
        "after": cursors,
        "last": ints,
        "before": cursors,
        "filter": filters,
        "orderBy": st.one_of(st.none(), st.just({"direction": "ASC"}), st.just({"field": "X"})),
        "id": texts,
    }
)


def send(url: str, payload: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=variables)
def test_fuzzed_variables_never_break_the_gateway(live: LiveStack, values: dict[str, Any]) -> None:
    status, text = send(live.url, {"query": QUERY, "variables": values})

    assert status < 500, text
    assert not any(secret in text for secret in SECRETS)
    body = json.loads(text)
    for error in body.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL", error
        assert "Traceback" not in error["message"]
