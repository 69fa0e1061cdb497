from __future__ import annotations

import base64
import random
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from app.mocks import Call, Credentials, MockData, MockUpstreams, generate
from app.mocks.prefactor.pfid import make_pfid, pfid_partition, pfid_timestamp_ms
from app.mocks.timestamps import parse_iso_ns
from app.mocks.zitadel.data import FACTOR_KINDS

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
PRIVX = "/auth/api/v1/sessionstorage"
PRIVX_AUTH = {"Authorization": "Bearer privx-demo-token"}
PREFACTOR_AUTH = {"Authorization": "Bearer prefactor-demo-key"}
ZITADEL_AUTH = {"Authorization": "Bearer zitadel-demo-pat"}
HYPERID_AUTH = {"Cookie": "ss-id=hyperid-demo-session"}


@pytest.fixture(scope="module")
def data() -> MockData:
    return generate(now=NOW)


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        text = await response.text()
        return response.status, (await response.json() if text else None)


# generate()


def test_generate_is_deterministic_for_a_seed_and_now() -> None:
    assert generate(3, now=NOW) == generate(3, now=NOW)
    assert generate(3, now=NOW).privx != generate(4, now=NOW).privx


def test_generate_sizes_and_shared_people(data: MockData) -> None:
    assert len(data.privx) == 160
    assert len(data.prefactor) == 120
    assert len(data.zitadel) == 150
    assert len(data.hyperid_sessions) == 24
    assert 3 <= len(data.hyperid_app_authorizations) <= 5
    assert len(data.people) == 40
    privx_users = {s["username"] for s in data.privx}
    zitadel_users = {s["factors"]["user"]["loginName"] for s in data.zitadel if "factors" in s}
    assert {p.privx_username for p in data.people} >= privx_users
    assert {p.zitadel_login_name for p in data.people} >= zitadel_users


def test_pfids_follow_the_pfid_library_layout() -> None:
    pfid = make_pfid(1_234_567_890_000, 123_456_789, random.Random(1))

    assert pfid.startswith("013xrzp12g3nqk8n")  # The prefix of every Prefactor docs example.
    assert pfid_timestamp_ms(pfid) == 1_234_567_890_000
    assert pfid_partition(pfid) == 123_456_789


def test_prefactor_data_covers_every_status(data: MockData) -> None:
    statuses = Counter(s["status"] for s in data.prefactor)
    assert set(statuses) == {"new", "unauthenticated", "authenticated", "complete", "revoked"}
    for session in data.prefactor:
        assert session["first_seen"]["at"] == pfid_timestamp_ms(session["id"]) // 1000
        anonymous = session["status"] in {"new", "unauthenticated"}
        assert (session["authenticated_identity_id"] is None) == anonymous
        assert session["pool_id"] in data.prefactor_pool_ids
    assert any(s["last_seen"] is None for s in data.prefactor)
    assert len({pfid_partition(s["id"]) for s in data.prefactor}) == 1


def test_zitadel_data_covers_every_factor_kind(data: MockData) -> None:
    kinds = Counter(kind for s in data.zitadel for kind in s.get("factors", {}))
    assert set(kinds) == set(FACTOR_KINDS)
    assert any("factors" not in s for s in data.zitadel)
    webauthn = [
        s["factors"]["webAuthN"] for s in data.zitadel if "webAuthN" in s.get("factors", {})
    ]
    assert {w.get("userVerified") for w in webauthn} == {True, None}
    digits = {len(s["creationDate"].partition(".")[2]) - 1 for s in data.zitadel}
    assert {0, 3, 6, 9} <= {max(d, 0) for d in digits}
    assert any("expirationDate" not in s for s in data.zitadel)
    for session in data.zitadel:
        assert len(session["id"]) == 18
        assert session["id"].isdigit()
        for value in session.get("metadata", {}).values():
            base64.b64decode(value, validate=True)


def test_privx_data_has_same_user_parents_and_created_ties(data: MockData) -> None:
    by_id = {s["id"]: s for s in data.privx}
    children = [s for s in data.privx if s["type"] == "child"]
    assert children
    for child in children:
        parent = by_id[child["parent_session_id"]]
        assert parent["type"] in {"login", "sso"}
        assert parent["user_id"] == child["user_id"]
        assert parent["created"] <= child["created"]
    roots = [s for s in data.privx if s["type"] != "child"]
    assert any(s.get("parent_session_id") == "" for s in roots)
    assert any("parent_session_id" not in s for s in roots)
    assert max(Counter(s["created"] for s in data.privx).values()) >= 2
    assert {s.get("current") for s in data.privx} == {True, False, None}


def test_hyperid_data_uses_iso_millis_and_omits_nulls(data: MockData) -> None:
    for session in data.hyperid_sessions:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", session["creationTime"])
        assert None not in session.values()
        assert 0 <= len(session["siteAuthorizations"]) <= 3
    assert any("expirationTime" not in s for s in data.hyperid_sessions)


# Authentication


@pytest.mark.parametrize(
    ("provider", "method", "path", "expected"),
    [
        ("PRIVX", "GET", f"{PRIVX}/users/current/sessions", {"error_code": "UNAUTHORIZED"}),
        ("PREFACTOR", "GET", "/api/v1/session", {"status": "error", "code": "not_authenticated"}),
        ("ZITADEL", "POST", "/v2/sessions/search", {"code": 16}),
        ("HYPERID", "GET", "/api/sessions", {"responseStatus": {"errorCode": "Unauthorized"}}),
    ],
)
async def test_missing_credentials_are_rejected_in_the_upstream_shape(
    mocks: MockUpstreams,
    http: aiohttp.ClientSession,
    provider: str,
    method: str,
    path: str,
    expected: dict[str, Any],
) -> None:
    status, body = await call(http, method, mocks.urls[provider] + path)

    assert status == 401
    for key, value in expected.items():
        if isinstance(value, dict):
            assert value.items() <= body[key].items()
        else:
            assert body[key] == value
    assert mocks.calls(provider) == [Call(method, path, "", "")]


async def test_wrong_credentials_are_rejected(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    wrong = {"Authorization": "Bearer nope"}
    privx_url = f"{mocks.urls['PRIVX']}{PRIVX}/users/current/sessions"
    _, privx = await call(http, "GET", privx_url, headers=wrong)
    status, prefactor = await call(
        http, "GET", mocks.urls["PREFACTOR"] + "/api/v1/session", headers=wrong
    )
    _, zitadel = await call(http, "GET", mocks.urls["ZITADEL"] + "/v2/sessions/1", headers=wrong)
    hyperid_status, _ = await call(
        http, "GET", mocks.urls["HYPERID"] + "/api/sessions", headers={"Cookie": "ss-id=nope"}
    )

    assert set(privx) == {"error_code", "error_message", "property", "details"}
    assert (status, prefactor["code"]) == (401, "bad_authtoken")
    assert zitadel["code"] == 16
    assert zitadel["details"][0]["@type"] == "type.googleapis.com/zitadel.v1.ErrorDetail"
    assert hyperid_status == 401


# PrivX


async def test_privx_pages_sorts_and_counts(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{mocks.urls['PRIVX']}{PRIVX}/sessions/search"
    params = {"sortkey": "created", "limit": "1000"}
    _, asc = await call(http, "POST", url, params=params, headers=PRIVX_AUTH)
    _, desc = await call(http, "POST", url, params=params | {"sortdir": "DESC"}, headers=PRIVX_AUTH)
    _, page = await call(
        http, "POST", url, params=params | {"offset": "5", "limit": "7"}, headers=PRIVX_AUTH
    )

    keys = [(s["created"], s["id"]) for s in asc["items"]]
    assert asc["count"] == desc["count"] == page["count"] == 160
    assert keys == sorted(keys)
    assert desc["items"] == asc["items"][::-1]  # Ties on `created` reverse by id too.
    assert page["items"] == asc["items"][5:12]


async def test_privx_defaults_to_50_by_expires(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{mocks.urls['PRIVX']}{PRIVX}/sessions/search"
    _, body = await call(http, "POST", url, headers=PRIVX_AUTH)
    _, remote = await call(http, "POST", url + "?sortkey=remote_address", headers=PRIVX_AUTH)

    assert len(body["items"]) == 50
    expires = [(s["expires"], s["id"]) for s in body["items"]]
    assert expires == sorted(expires)
    addresses = [s["remote_addr"] for s in remote["items"]]
    assert addresses == sorted(addresses)


@pytest.mark.parametrize(
    ("query", "body", "prop"),
    [
        ("offset=-1", None, "offset"),
        ("limit=ten", None, "limit"),
        ("sortkey=user_agent", None, "sortkey"),
        ("sortdir=UP", None, "sortdir"),
        ("", "{not json", ""),
    ],
)
async def test_privx_rejects_bad_parameters(
    mocks: MockUpstreams, http: aiohttp.ClientSession, query: str, body: str | None, prop: str
) -> None:
    url = f"{mocks.urls['PRIVX']}{PRIVX}/sessions/search?{query}"
    status, error = await call(http, "POST", url, data=body, headers=PRIVX_AUTH)

    assert status == 400
    assert (error["error_code"], error["property"]) == ("BAD_REQUEST", prop)


async def test_privx_filters_by_user_type_keywords_and_source(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    base, user = mocks.urls["PRIVX"] + PRIVX, data.people[0]
    search = {"user_id": user.privx_user_id, "type": "login"}
    _, found = await call(http, "POST", f"{base}/sessions/search", json=search, headers=PRIVX_AUTH)
    _, kw = await call(
        http, "POST", f"{base}/sessions/search", json={"keywords": "FIREFOX"}, headers=PRIVX_AUTH
    )
    _, current = await call(http, "GET", f"{base}/users/current/sessions", headers=PRIVX_AUTH)
    source = user.privx_source_id
    _, by_source = await call(
        http, "GET", f"{base}/sources/{source}/sessions?limit=500", headers=PRIVX_AUTH
    )

    assert found["count"] == sum(
        s["user_id"] == user.privx_user_id and s["type"] == "login" for s in data.privx
    )
    assert kw["count"] > 0
    assert all("firefox" in s["user_agent"].lower() for s in kw["items"])
    assert data.privx_token_user_id == user.privx_user_id
    assert {s["user_id"] for s in current["items"]} == {user.privx_user_id}
    assert by_source["count"] == sum(s["source_id"] == source for s in data.privx)


async def test_privx_terminate_ends_children_and_404s_unknown(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    by_id = {s["id"]: s for s in data.privx}
    child = next(
        s for s in data.privx if s["type"] == "child"
        and not by_id[s["parent_session_id"]]["logged_out"]
    )  # fmt: skip
    parent_id = child["parent_session_id"]
    base = mocks.urls["PRIVX"] + PRIVX
    status, _ = await call(
        http, "POST", f"{base}/sessions/{parent_id}/terminate", headers=PRIVX_AUTH
    )
    missing, error = await call(
        http, "POST", f"{base}/sessions/{'0' * 8}-0000-4000-8000-{'0' * 12}/terminate",
        headers=PRIVX_AUTH,
    )  # fmt: skip

    changed = {s["id"]: s["logged_out"] for s in mocks.data.privx}
    assert status == 200
    assert changed[parent_id]
    assert changed[child["id"]]
    assert (missing, error["error_code"]) == (404, "NOT_FOUND")
    assert not by_id[parent_id]["logged_out"]  # Only the server's copy changed.


# Prefactor


async def test_prefactor_middle_page_pagination(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    pool = data.prefactor_pool_ids[0]
    in_pool = sorted(s["id"] for s in data.prefactor if s["pool_id"] == pool)
    params = {"pool_id": pool, "pagination[offset]": "10", "pagination[page_size]": "5"}
    status, body = await call(
        http, "GET", mocks.urls["PREFACTOR"] + "/api/v1/session", params=params,
        headers=PREFACTOR_AUTH,
    )  # fmt: skip

    assert status == 200
    assert body["status"] == "success"
    assert body["sorting"] is None
    assert [s["id"] for s in body["summaries"]] == in_pool[10:15]
    assert body["pagination"] == {
        "item_count": len(in_pool),
        "item_start": 11,
        "item_end": 15,
        "page_count": -(-len(in_pool) // 5),
        "page_index": 3,
        "page_offset": 10,
        "page_size": 5,
        "next_page_offset": 15,
        "previous_page_offset": 5,
    }


async def test_prefactor_validates_the_list_query(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    url = mocks.urls["PREFACTOR"] + "/api/v1/session"
    missing, required = await call(http, "GET", url, headers=PREFACTOR_AUTH)
    params = {"pool_id": data.prefactor_pool_ids[1], "pagination[page_size]": "101"}
    too_big, invalid = await call(http, "GET", url, params=params, headers=PREFACTOR_AUTH)
    _, default = await call(
        http, "GET", url, params={"pool_id": data.prefactor_pool_ids[1]}, headers=PREFACTOR_AUTH
    )

    assert (missing, required["code"]) == (400, "required_value")
    assert (too_big, invalid["code"]) == (400, "invalid_value")
    assert default["pagination"]["page_size"] == 25
    assert default["pagination"]["previous_page_offset"] is None


async def test_prefactor_fetch_and_revoke(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    session = next(s for s in data.prefactor if s["status"] == "authenticated")
    url = f"{mocks.urls['PREFACTOR']}/api/v1/session/{session['id']}"
    _, fetched = await call(http, "GET", url, headers=PREFACTOR_AUTH)
    _, revoked = await call(http, "POST", url + "/revoke", headers=PREFACTOR_AUTH)
    again, error = await call(http, "POST", url + "/revoke", headers=PREFACTOR_AUTH)
    unknown, not_found = await call(http, "GET", url[:-4] + "zzzz", headers=PREFACTOR_AUTH)

    assert fetched == {"status": "success", "summary": session, "actions": {"revoke": True}}
    assert revoked["summary"]["status"] == "revoked"
    assert revoked["actions"] == {"revoke": False}
    assert (again, error["code"]) == (400, "invalid_action")
    assert (unknown, not_found["code"]) == (404, "not_found")
    assert session["status"] == "authenticated"  # The caller's data is never changed.


# ZITADEL


async def search_zitadel(
    mocks: MockUpstreams, http: aiohttp.ClientSession, body: object
) -> tuple[int, Any]:
    url = mocks.urls["ZITADEL"] + "/v2/sessions/search"
    return await call(http, "POST", url, json=body, headers=ZITADEL_AUTH)


async def test_zitadel_search_queries(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    ids = [data.zitadel[0]["id"], data.zitadel[5]["id"], "1"]
    user_id = data.zitadel[5]["factors"]["user"]["id"]
    since, until = "2024-05-01T00:00:00Z", "2024-05-10T00:00:00.5Z"
    _, by_ids = await search_zitadel(mocks, http, {"queries": [{"idsQuery": {"ids": ids}}]})
    _, by_user = await search_zitadel(
        mocks, http, {"query": {"asc": True}, "queries": [{"user_id_query": {"id": user_id}}]}
    )
    ranged = [
        {"creationDateQuery": {"creationDate": since, "method": "TIMESTAMP_QUERY_METHOD_GREATER"}},
        {"creationDateQuery": {"creationDate": until, "method": 3}},
    ]
    _, by_date = await search_zitadel(
        mocks, http, {"query": {"offset": "1", "limit": 3}, "queries": ranged, "extra": 1}
    )

    assert by_ids["details"]["totalResult"] == "2"
    assert {s["id"] for s in by_ids["sessions"]} == set(ids[:2])
    assert {s["factors"]["user"]["id"] for s in by_user["sessions"]} == {user_id}
    user_dates = [parse_iso_ns(s["creationDate"]) for s in by_user["sessions"]]
    assert user_dates == sorted(user_dates)
    lo, hi = parse_iso_ns(since), parse_iso_ns(until)
    expected = sorted(
        (s for s in data.zitadel if lo < parse_iso_ns(s["creationDate"]) < hi),
        key=lambda s: (parse_iso_ns(s["creationDate"]), s["id"]),
        reverse=True,
    )
    assert by_date["details"]["totalResult"] == str(len(expected))
    assert by_date["sessions"] == expected[1:4]


async def test_zitadel_expiration_creator_and_user_agent_queries(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    far_future = {"expirationDate": "2999-01-01T00:00:00Z", "method": "TIMESTAMP_QUERY_METHOD_LESS"}
    fingerprint = next(s["userAgent"]["fingerprintId"] for s in data.zitadel if "userAgent" in s)
    _, expiring = await search_zitadel(
        mocks, http, {"query": {"limit": 1000}, "queries": [{"expiration_date_query": far_future}]}
    )
    _, mine = await search_zitadel(
        mocks, http, {"query": {"limit": 1000}, "queries": [{"creatorQuery": {}}]}
    )
    _, agent = await search_zitadel(
        mocks, http, {"queries": [{"userAgentQuery": {"fingerprintId": fingerprint}}]}
    )
    no_agent, _ = await search_zitadel(mocks, http, {"queries": [{"userAgentQuery": {}}]})

    assert len(expiring["sessions"]) == sum("expirationDate" in s for s in data.zitadel)
    created_by_caller = {k for k, v in data.zitadel_creators.items() if v == data.zitadel_caller_id}
    assert {s["id"] for s in mine["sessions"]} == created_by_caller
    assert {s["userAgent"]["fingerprintId"] for s in agent["sessions"]} == {fingerprint}
    assert no_agent == 400


async def test_zitadel_rejects_invalid_searches(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    too_many, error = await search_zitadel(mocks, http, {"query": {"limit": 1001}})
    two_keys, _ = await search_zitadel(
        mocks, http, {"queries": [{"idsQuery": {"ids": []}, "userIdQuery": {"id": "1"}}]}
    )
    unknown, _ = await search_zitadel(mocks, http, {"queries": [{"nameQuery": {}}]})
    url = mocks.urls["ZITADEL"] + "/v2/sessions/search"
    bad_json, _ = await call(http, "POST", url, data="{", headers=ZITADEL_AUTH)

    assert (too_many, error["code"]) == (400, 3)
    assert two_keys == unknown == bad_json == 400


async def test_zitadel_get_and_delete(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    session = data.zitadel[3]
    url = f"{mocks.urls['ZITADEL']}/v2/sessions/{session['id']}"
    _, got = await call(http, "GET", url, headers=ZITADEL_AUTH)
    _, deleted = await call(http, "DELETE", url, headers=ZITADEL_AUTH)
    gone, error = await call(http, "GET", url, headers=ZITADEL_AUTH)

    assert got == {"session": session}
    assert deleted["details"]["sequence"] == str(int(session["sequence"]) + 1)
    assert deleted["details"]["resourceOwner"] == data.zitadel_instance_id
    assert (gone, error["code"]) == (404, 5)


# hyper.id


async def test_hyperid_lists_and_looks_up_one_session(
    mocks: MockUpstreams, http: aiohttp.ClientSession, data: MockData
) -> None:
    base = mocks.urls["HYPERID"]
    session = data.hyperid_sessions[2]
    _, listing = await call(http, "GET", base + "/api/sessions", headers=HYPERID_AUTH)
    _, one = await call(
        http, "GET", f"{base}/api/session?ID={session['sessionID']}", headers=HYPERID_AUTH
    )
    missing, _ = await call(http, "GET", base + "/api/session", headers=HYPERID_AUTH)
    bad, error = await call(http, "GET", base + "/api/session?ID=x", headers=HYPERID_AUTH)
    unknown, _ = await call(http, "GET", base + "/api/session?ID=1", headers=HYPERID_AUTH)

    assert listing == {
        "sessions": data.hyperid_sessions,
        "appAuthorizations": data.hyperid_app_authorizations,
    }
    assert one == session
    assert (missing, bad, unknown) == (400, 400, 404)
    assert error["responseStatus"]["errors"][0]["fieldName"] == "ID"


@pytest.mark.server
async def test_hyperid_logout_and_wcf_dates(http: aiohttp.ClientSession, data: MockData) -> None:
    credentials = Credentials(hyperid_session="s3cret")
    cookie = {"Cookie": "ss-id=s3cret"}
    async with MockUpstreams(data, credentials, hyperid_date_style="wcf") as mocks:
        base = mocks.urls["HYPERID"]
        target = data.hyperid_sessions[0]["sessionID"]
        _, before = await call(http, "GET", base + "/api/sessions", headers=cookie)
        status, _ = await call(
            http, "POST", base + "/api/logout", json={"sessionId": target}, headers=cookie
        )
        _, after = await call(http, "GET", base + "/api/sessions", headers=cookie)
        assert mocks.gateway_env()["GATEWAY_HYPERID_COOKIE"] == "ss-id=s3cret"

    assert before["sessions"][0]["creationTime"].startswith("/Date(")
    assert status == 204
    assert target not in {s["sessionID"] for s in after["sessions"]}


# MockUpstreams


async def test_calls_are_recorded_and_reset(
    mocks: MockUpstreams, http: aiohttp.ClientSession
) -> None:
    url = f"{mocks.urls['PRIVX']}{PRIVX}/sessions/search?limit=1"
    await call(http, "POST", url, json={"type": "sso"}, headers=PRIVX_AUTH)

    assert mocks.calls("PRIVX") == [
        Call("POST", f"{PRIVX}/sessions/search", "limit=1", '{"type": "sso"}')
    ]
    assert mocks.calls("PRIVX")[0].headers["Authorization"] == "Bearer privx-demo-token"
    mocks.reset_calls()
    assert mocks.calls("PRIVX") == []


async def test_gateway_env_points_at_the_servers(mocks: MockUpstreams, data: MockData) -> None:
    env = mocks.gateway_env()

    assert env["GATEWAY_PRIVX_URL"] == mocks.urls["PRIVX"]
    assert env["GATEWAY_PRIVX_URL"].startswith("http://127.0.0.1:")
    assert env["GATEWAY_PREFACTOR_POOL_IDS"].split(",") == data.prefactor_pool_ids
    assert env["GATEWAY_HYPERID_COOKIE"] == "ss-id=hyperid-demo-session"
    assert set(env) == {
        "GATEWAY_PRIVX_URL", "GATEWAY_PRIVX_TOKEN", "GATEWAY_PREFACTOR_URL",
        "GATEWAY_PREFACTOR_TOKEN", "GATEWAY_PREFACTOR_POOL_IDS", "GATEWAY_ZITADEL_URL",
        "GATEWAY_ZITADEL_TOKEN", "GATEWAY_HYPERID_URL", "GATEWAY_HYPERID_COOKIE",
        "GATEWAY_KRATOS_URL", "GATEWAY_KRATOS_TOKEN",
    }  # fmt: skip
