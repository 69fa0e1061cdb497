"""A JSON object that names a key twice is refused wherever the gateway reads JSON from a client."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from app.core import ids
from app.core.records import Provider
from app.http.request_json import DuplicateKey, loads
from tests.support.http_calls import exchange
from tests.support.live import LiveStack

PROVIDERS = "{ providers { provider } }"
# PrivX is asked to end it (and answers that it has no such session).
NO_SUCH = ids.encode(ids.SESSION, Provider.PRIVX, "no-such-session")
REVOKE = f'mutation {{ revokeSession(id: "{NO_SUCH}") {{ __typename }} }}'


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"query": "{ a }", "query": "{ b }"}', "query"),
        (b'{"query": "q", "variables": {"f": {"ids": [1], "ids": [2]}}}', "ids"),
        (b'[{"a": 1}, {"b": 1, "b": 1}]', "b"),
        (b'{"a" : 1 , "a" : 1}', "a"),
        # A colon escaped in a kept string must not hide the dropped key.
        (b'{"x": "\\u003a", "k": 1, "k": 2}', "k"),
        (b'{"x": "\\u003A:", "k:": 1, "k:": 2}', "k:"),
    ],
)
def test_a_key_given_twice_is_named(body: bytes, key: str) -> None:
    with pytest.raises(DuplicateKey) as refused:
        loads(body)

    assert str(refused.value) == (
        f"The key '{key}' appears twice in one JSON object; an object may name each key once."
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "query Q($id: ID!) { session(id: $id) { id } }", "variables": {"id": "a:b"}}',
        b'{"a": "\\u003a\\u003A:", "b": {"c:d": "::"}, "e": "\\\\u003a"}',
        b'{"\\u00e9:": ["x:", {"y": "\\""}]}',
        b'"a:b"',
        b"[]",
        b"{}",
        '{"query": "{ é: x }"}'.encode(),
    ],
)
def test_bodies_without_duplicates_decode_as_orjson_decodes_them(body: bytes) -> None:
    assert loads(body) == orjson.loads(body)


def test_random_documents_round_trip() -> None:
    rng = random.Random(26)

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice(["a:b", "é:", ":\\", '":', 1, 2.5, None, True])
        if roll < 0.6:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        keys = [rng.choice(["k", "k:", "é", "\\u003a"]) + str(rng.randint(0, 9)) for _ in "abc"]
        return {key: value(depth + 1) for key in keys}

    for i in range(3000):
        document = value(0)
        assert loads(json.dumps(document, ensure_ascii=bool(i % 2))) == document


def _refused(status: int, raw: bytes, key: str) -> None:
    assert status == 400, raw
    error = json.loads(raw)["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith(f"The key '{key}' appears twice in one JSON object")


def _post(live: LiveStack, body: bytes, accept: str = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "Accept": accept}
    status, _, raw = exchange(live.url, "POST", headers, body)
    return status, raw


def test_two_queries_in_one_body_are_refused_and_nothing_runs(live: LiveStack) -> None:
    # A proxy reading the first `query` sees a query; orjson alone would run the mutation.
    body = json.dumps({"query": PROVIDERS})[:-1] + ", " + json.dumps({"query": REVOKE})[1:]
    status, raw = _post(live, json.dumps({"query": REVOKE}).encode())  # the document is known
    assert json.loads(raw)["data"]["revokeSession"]["__typename"] == "SessionNotFound"
    assert live.calls("PRIVX")

    live.reset_calls()
    status, raw = _post(live, body.encode())

    _refused(status, raw, "query")
    assert live.calls("PRIVX") == []


def test_a_duplicate_in_the_variables_of_a_known_document_is_refused(live: LiveStack) -> None:
    query = "query ($n: Int) { sessions(first: $n) { totalCount } }"
    known = json.dumps({"query": query, "variables": {"n": 1}})
    assert _post(live, known.encode())[0] == 200
    assert _post(live, known.encode())[0] == 200  # now on the lean path, where it has one

    status, raw = _post(live, known.replace('{"n": 1}', '{"n": 1, "n": 2}').encode())

    _refused(status, raw, "n")


def test_a_duplicate_in_get_variables_is_refused(live: LiveStack) -> None:
    query = "query ($n: Int) { sessions(first: $n) { totalCount } }"
    params = urlencode({"query": query, "variables": '{"n": 1, "n": 2}'})

    status, _, raw = exchange(f"{live.url}?{params}", "GET", {"Accept": "application/json"})

    _refused(status, raw, "n")


def test_a_duplicate_in_an_event_stream_request_is_refused(live: LiveStack) -> None:
    body = b'{"query": "subscription { sessionEvents { kind } }", "query": "{ __typename }"}'

    status, raw = _post(live, body, accept="text/event-stream")

    _refused(status, raw, "query")
