"""Bad input gets a precise 4xx or GraphQL error naming the problem; never a 500 or a trace."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.live import LiveStack, post

pytestmark = pytest.mark.server


def raw(
    live: LiveStack, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        live.url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message", "code"),
    [
        (
            b"{not json",
            "application/json",
            400,
            "Unable to parse request body as JSON",
            "BAD_REQUEST",
        ),
        (b"{ providers { name } }", "text/plain", 400, "Unsupported content type", "BAD_REQUEST"),
        (b'{"query": 5}', "application/json", 400, "must be a string", "BAD_REQUEST"),
        (
            b'[{"query": "{ providers { name } }"}]',
            "application/json",
            400,
            "Batching is not enabled",
            "BAD_REQUEST",
        ),
        (
            b'{"query": "{ providers { name } }", "operationName": 5}',
            "application/json",
            400,
            "`operationName` must be a string or null",
            "BAD_REQUEST",
        ),
        (
            b'{"query": "query A { providers { name } }", "operationName": ["A"]}',
            "application/json",
            400,
            "`operationName` must be a string or null",
            "BAD_REQUEST",
        ),
        (
            b'{"query": "{ providers { name } }", "variables": [1]}',
            "application/json",
            400,
            "`variables` must be an object or null",
            "BAD_REQUEST",
        ),
        (
            b'{"query": "{ providers { name } }", "extensions": "x"}',
            "application/json",
            400,
            "`extensions` must be an object or null",
            "BAD_REQUEST",
        ),
        (b"x" * 300_000, "application/json", 413, "larger than 262144 bytes", "PAYLOAD_TOO_LARGE"),
    ],
)
def test_http_level_refusals_are_graphql_shaped(
    live: LiveStack, body: bytes, content_type: str, status: int, message: str, code: str
) -> None:
    got_status, got = raw(live, body, content_type)

    assert got_status == status
    assert message in got["errors"][0]["message"]
    assert got["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    ("query", "variables", "message", "code"),
    [
        ("{ sessions { nope } }", {}, "Cannot query field 'nope'", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ sessions(filter: {statuses: [BOGUS]}) { totalCount } }",
            {},
            "Value 'BOGUS' does not exist in 'SessionStatus' enum.",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ sessions(first: 1 { totalCount } }", {}, "Syntax Error", "GRAPHQL_PARSE_FAILED"),
        (
            "query ($f: Int) { sessions(first: $f) { totalCount } }",
            {"f": "ten"},
            "Variable '$f' has invalid value",
            "BAD_USER_INPUT",
        ),
        (
            "{ " + " ".join(f"a{i}: providers {{ name }}" for i in range(31)) + " }",
            {},
            "31 aliases found; the limit (maxAliases) is 30.",
            "QUERY_TOO_COMPLEX",
        ),
        (
            "{ sessions { nodes { " + "parent { " * 15 + "id" + " }" * 15 + " } } }",
            {},
            "The operation nests fields 17 levels deep; the limit (maxDepth) is 15.",
            "QUERY_TOO_COMPLEX",
        ),
    ],
)
def test_graphql_level_mistakes_name_the_problem(
    live: LiveStack, query: str, variables: dict[str, object], message: str, code: str
) -> None:
    result = post(live.url, query, variables)

    assert result["data"] is None
    error = result["errors"][0]
    assert message.lower() in error["message"].lower()
    assert error["extensions"]["code"] == code


DEEP = "parent { " * 15 + "id" + " }" * 15
CHAINED = "fragment F0 on Session { id } " + " ".join(
    f"fragment F{i} on Session {{ parent {{ ...F{i - 1} }} }}" for i in range(1, 120)
)
SPREADS_ONLY = "fragment G0 on Query { providers { name } } " + " ".join(
    f"fragment G{i} on Query {{ ...G{i - 1} }}" for i in range(1, 300)
)
OVER_DEEP_OPERATIONS = f"fragment D on Query {{ sessions {{ nodes {{ {DEEP} }} }} }} " + " ".join(
    f"query Q{i} {{ ...D }}" for i in range(105)
)


@pytest.mark.parametrize(
    ("query", "operation", "limit", "message"),
    [
        (
            CHAINED + " { sessions { nodes { ...F119 } } }",
            None,
            "maxNesting",
            "Fragments spread inside one another nest selections more than 200 levels deep, "
            "more than graphql-core validates.",
        ),
        (
            SPREADS_ONLY + " { ...G299 }",
            None,
            "maxSpreads",
            "The document has more than 200 fragment spreads; the limit (maxSpreads) is 200.",
        ),
        (
            OVER_DEEP_OPERATIONS,
            "Q1",
            "maxDepth",
            "The operation nests fields 17 levels deep; the limit (maxDepth) is 15.",
        ),
    ],
)
def test_documents_past_a_shape_limit_are_refused_before_validation(
    live: LiveStack, query: str, operation: str | None, limit: str, message: str
) -> None:
    body = json.dumps({"query": query, "operationName": operation}).encode()

    _, result = raw(live, body)

    assert [e["message"] for e in result["errors"]] == [message]
    assert result["errors"][0]["extensions"]["limit"] == limit


def test_validation_that_gives_up_says_why(live: LiveStack) -> None:
    query = "{ " + " ".join(f"n{i}" for i in range(120)) + " }"

    result = post(live.url, query)

    assert result["errors"][-1]["message"] == (
        "More than 100 validation errors; fix the first ones and retry."
    )
    assert "aborted" not in json.dumps(result)
    assert {e["extensions"]["code"] for e in result["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


def test_a_fragment_spread_twice_is_one_depth_error(live: LiveStack) -> None:
    query = f"fragment P on Session {{ {DEEP} }} {{ sessions {{ nodes {{ ...P ...P }} }} }}"

    result = post(live.url, query)

    assert [e["message"] for e in result["errors"]] == [
        "The operation nests fields 17 levels deep; the limit (maxDepth) is 15."
    ]


def test_too_many_tokens_is_refused(live: LiveStack) -> None:
    query = "{ providers { " + " ".join(["name"] * 6000) + " } }"

    result = post(live.url, query)

    assert "token" in result["errors"][0]["message"].lower()


@pytest.mark.parametrize("body", [b'"just a string"', b"null", b"42"])
def test_a_json_body_that_is_not_an_object_is_400(live: LiveStack, body: bytes) -> None:
    status, got = raw(live, body)

    assert status == 400
    assert got["errors"][0]["message"] == "The request body must be a JSON object."


def test_out_of_range_times_are_bad_input(live: LiveStack) -> None:
    query = "query ($f: SessionFilterInput) { sessions(filter: $f) { totalCount } }"
    result = post(live.url, query, {"f": {"createdAt": {"since": "0001-01-01T00:00:00+01:00"}}})

    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert result["errors"][0]["message"] == "`filter.createdAt.since` is out of range."


def test_cost_counts_variable_defaults(live: LiveStack) -> None:
    query = (
        "query ($n: Int = 100, $m: Int = 100) { sessions(first: $n) "
        "{ nodes { authorizations(first: $m) { edges { node { id kind siteName } } } } } }"
    )
    result = post(live.url, query)

    assert result["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
