"""The lean path (app/http/lean.py) answers exactly as Strawberry's view does, and runs.

Each request is sent twice to the same live gateway over HTTP: once with the lean path off
(Strawberry's view answers) and once on, and the two answers must match: status, the headers a
client reads, and the body byte for byte. The view's `run` is counted, so each case also says
which path answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from app.http.view import GatewayGraphQL
from tests.support.digest import sha256
from tests.support.http_calls import exchange
from tests.support.live import LiveStack

pytestmark = pytest.mark.server

KEYS = [
    {"name": "ops", "key": "ops-key", "scopes": ["sessions:read:all", "documents:any"]},
    {"name": "app", "key": "app-key", "users": [{"provider": "PRIVX", "id": "nobody-here"}]},
]
GRAPHQL_RESPONSE = "application/graphql-response+json"
PAGE = "query Page($first: Int) { sessions(first: $first) { edges { node { id provider } } } }"
USERS = """
query UserSessions($users: [ProviderUserInput!]!) {
  sessions(first: 50, filter: {users: $users}) {
    edges { node { id provider createdAt status userAgent { browserName osName } } }
  }
}
"""
TWO = "query A { providers { provider } } query B { sessions(first: 2) { edges { cursor } } }"
BAD_ID = '{ session(id: "not-a-global-id") { id } }'
REVOKE = 'mutation { revokeSession(id: "not-a-global-id") { __typename } }'
TRUSTED = "query P { providers { provider } }"
SEEN = ("content-type", "x-request-id", "x-cache", "retry-after", "www-authenticate", "allow")


def _view(live: LiveStack) -> GatewayGraphQL:
    assert live.app is not None
    return next(
        r.app
        for r in live.app.routes
        if isinstance(r, Route) and isinstance(r.app, GatewayGraphQL) and r.path == "/graphql"
    )


class Counted:
    """The view's `run` (Strawberry's path), counted."""

    def __init__(self, view: GatewayGraphQL) -> None:
        self.calls = 0
        original = view.run

        async def run(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        view.run = run  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lean") / "manifest.json"
    path.write_text(json.dumps({f"sha256:{sha256(TRUSTED)}": TRUSTED}))
    return path


def _stack(env: dict[str, str]) -> Iterator[tuple[LiveStack, Counted]]:
    with LiveStack(
        env={"GATEWAY_ALLOW_ANONYMOUS": "false", "GATEWAY_API_KEYS": json.dumps(KEYS), **env}
    ) as live:
        view = _view(live)
        counted = Counted(view)
        yield live, counted


@pytest.fixture(scope="module")
def plain() -> Iterator[tuple[LiveStack, Counted]]:
    yield from _stack({})


@pytest.fixture(scope="module")
def fronted(manifest: Path) -> Iterator[tuple[LiveStack, Counted]]:
    env = {
        "GATEWAY_RESPONSE_CACHE_TTL": "60",
        "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
        "GATEWAY_PERSISTED_DOCUMENTS_MODE": "require",
    }
    yield from _stack(env)


Exchange = tuple[int, dict[str, str], bytes]


def _post(
    live: LiveStack,
    body: object,
    *,
    key: str = "ops-key",
    accept: str | None = None,
    content_type: str = "application/json",
) -> Exchange:
    headers = {"Content-Type": content_type, "X-API-Key": key, "X-Request-ID": "lean-test"}
    if accept is not None:
        headers["Accept"] = accept
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answer, content = exchange(live.url, "POST", headers, raw)
    return status, {name: answer[name] for name in SEEN if name in answer}, content


def _both(
    stack: tuple[LiveStack, Counted], send: Callable[[LiveStack], Exchange]
) -> tuple[Exchange, Exchange, int]:
    """The answer through Strawberry's view, then through the lean path; and how many of the
    lean-on requests the view still answered."""
    live, counted = stack
    view = _view(live)
    view.lean = False
    send(live)  # the first request of a document: parsed, validated and cached by the view
    ordinary = send(live)
    view.lean = True
    before = counted.calls
    lean = send(live)
    return ordinary, lean, counted.calls - before


CASES: dict[str, Callable[[LiveStack], Exchange]] = {
    "a page": lambda live: _post(live, {"query": PAGE, "variables": {"first": 3}}),
    "a page, graphql-response+json": lambda live: _post(
        live, {"query": PAGE, "variables": {"first": 3}}, accept=GRAPHQL_RESPONSE
    ),
    "one user's sessions": lambda live: _post(
        live,
        {
            "query": USERS,
            "variables": {"users": [{"provider": "HYPERID", "nativeId": "current"}]},
            "operationName": "UserSessions",
        },
    ),
    "a scoped key sees nothing": lambda live: _post(
        live, {"query": PAGE, "variables": {"first": 3}}, key="app-key"
    ),
    "a missing variable (JSON)": lambda live: _post(live, {"query": USERS}),
    "a missing variable (graphql-response+json)": lambda live: _post(
        live, {"query": USERS}, accept=GRAPHQL_RESPONSE
    ),
    "a variable of the wrong type": lambda live: _post(
        live, {"query": PAGE, "variables": {"first": "three"}}, accept=GRAPHQL_RESPONSE
    ),
    "a field error": lambda live: _post(live, {"query": BAD_ID}),
    "a mutation's error": lambda live: _post(live, {"query": REVOKE}, accept=GRAPHQL_RESPONSE),
    "the named operation of two": lambda live: _post(live, {"query": TWO, "operationName": "B"}),
    # urql's Accept for queries and mutations: this view has no HTTP stream transport, so the
    # answer is one JSON document either way.
    "urql's Accept": lambda live: _post(
        live,
        {"query": PAGE},
        accept="application/graphql-response+json, application/graphql+json, "
        "application/json, text/event-stream, multipart/mixed",
    ),
    "GraphiQL's Accept": lambda live: _post(
        live, {"query": PAGE}, accept="application/json, multipart/mixed"
    ),
    "a charset on the content type": lambda live: _post(
        live, {"query": PAGE}, content_type="application/json; charset=utf-8"
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_lean_path_answers_as_the_view_does(
    plain: tuple[LiveStack, Counted], case: str
) -> None:
    ordinary, lean, view_calls = _both(plain, CASES[case])

    assert lean == ordinary
    assert view_calls == 0  # the lean path answered


HANDED: dict[str, Callable[[LiveStack], Exchange]] = {
    "two operations, none named": lambda live: _post(live, {"query": TWO}),
    "a subscription": lambda live: _post(
        live, {"query": "subscription { sessionEvents { kind } }"}
    ),
    "a batch": lambda live: _post(live, [{"query": PAGE}]),
    "an operationName that is not a string": lambda live: _post(
        live, {"query": PAGE, "operationName": 5}
    ),
    "variables that are not an object": lambda live: _post(live, {"query": PAGE, "variables": [1]}),
    "a body that is not JSON": lambda live: _post(live, b"{nope"),
    # A refused price drops the document from the cache: its next request is new again.
    "over the cost limit": lambda live: _post(
        live, {"query": PAGE, "variables": {"first": 100000}}, accept=GRAPHQL_RESPONSE
    ),
    "a syntax error": lambda live: _post(live, {"query": "{ sessions("}),
    "an invalid document": lambda live: _post(live, {"query": "{ nope }"}),
    "an APQ hash": lambda live: _post(
        live,
        {
            "query": PAGE,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(PAGE)}},
        },
    ),
    "a documentId": lambda live: _post(live, {"documentId": f"sha256:{sha256(PAGE)}"}),
    "not acceptable": lambda live: _post(live, {"query": PAGE}, accept="text/html"),
    "a text body": lambda live: _post(
        live, b"{ providers { provider } }", content_type="text/plain"
    ),
}


@pytest.mark.parametrize("case", HANDED)
def test_everything_else_is_handed_to_the_view_unchanged(
    plain: tuple[LiveStack, Counted], case: str
) -> None:
    ordinary, lean, view_calls = _both(plain, HANDED[case])

    assert lean == ordinary
    assert view_calls == 1  # the view answered, from the replayed body


def test_with_a_stream_transport_a_stream_in_accept_goes_to_the_view(
    plain: tuple[LiveStack, Counted],
) -> None:
    live, _ = plain
    view = _view(live)
    view.streams_over_http = True  # as if Strawberry could answer it as a multipart stream
    try:
        _, _, view_calls = _both(
            plain,
            lambda live: _post(live, {"query": PAGE}, accept="application/json, multipart/mixed"),
        )
    finally:
        view.streams_over_http = False
    assert view_calls == 1


def test_the_response_cache_and_trusted_documents_hold_on_the_lean_path(
    fronted: tuple[LiveStack, Counted],
) -> None:
    live, counted = fronted
    view = _view(live)
    view.lean = True
    query = {"query": TRUSTED}

    first = _post(live, query)  # new document: the view answers, the cache stores
    allowed = _post(live, {"query": PAGE}, key="ops-key")  # untrusted, but documents:any
    before = counted.calls
    hit = _post(live, query)
    hit_graphql = _post(live, query, accept=GRAPHQL_RESPONSE)
    allowed_again = _post(live, {"query": PAGE}, key="ops-key")
    refused = _post(live, {"query": PAGE}, key="app-key")  # untrusted, no documents:any

    assert counted.calls == before  # all four on the lean path
    assert first[0] == 200
    assert first[1]["x-cache"] == "MISS"
    assert hit[:2] == (200, {**first[1], "x-cache": "HIT"})
    assert hit[2] == first[2]
    assert hit_graphql[1]["content-type"] == GRAPHQL_RESPONSE
    assert hit_graphql[1]["x-cache"] == "HIT"
    assert allowed[1]["x-cache"] == "MISS"
    assert allowed_again[1]["x-cache"] == "HIT"
    assert allowed_again[2] == allowed[2]
    assert refused[0] == 400
    code = json.loads(refused[2])["errors"][0]["extensions"]["code"]
    assert code == "PERSISTED_DOCUMENT_REQUIRED"

    view.lean = False
    assert _post(live, {"query": PAGE}, key="app-key") == refused
    view.lean = True
