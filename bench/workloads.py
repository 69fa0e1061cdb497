"""The workload set: each workload's request bodies for the gateway and for the peer.

The peer (Mesh + Hive Gateway over the upstreams' OpenAPI documents) cannot merge, order,
filter or relate sessions, so its query names the upstream listings the gateway makes for the
same answer, with the same page sizes, and selects at least the fields the gateway's answer is
made of (raw, as the upstream gives them). `bench/run --check-work` counts at the mocks what each
side really fetched and refuses a ratio where the work differs (bench/work.py).

The peer queries mirror the gateway's calls as the mocks record them, so when the gateway's
paging changes (a page size, one more call), `--check-work` says so and the peer query here is
to follow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import queries

Body = dict[str, Any]
Mocks = dict[str, Any]
# How far apart the two sides' upstream calls, or upstream bytes, per request may be for a ratio
# of their figures to mean anything.
TOLERANCE = 0.05


def differs(a: float, b: float, tolerance: float = TOLERANCE) -> bool:
    """Whether `a` and `b` are more than `tolerance` (a share of the larger) apart."""
    return abs(a - b) > tolerance * max(abs(a), abs(b))


def same_work(calls: tuple[float, float], upstream_bytes: tuple[float, float]) -> bool:
    """Equal work: the same upstream calls and the same upstream bytes per request."""
    return not (differs(*calls) or differs(*upstream_bytes))


def page(call: list[str]) -> str:
    """One upstream call as text that two clients agree on: query parameters sorted, the
    JSON body with its keys sorted."""
    provider, method, path, query, body = call
    parameters = "&".join(sorted(query.split("&"))) if query else ""
    with contextlib.suppress(ValueError):  # not JSON: as it came
        body = json.dumps(json.loads(body), sort_keys=True) if body else ""
    return f"{provider} {method} {path}?{parameters} {body}"


def pages_digest(calls: list[list[str]]) -> str:
    """A short digest of the upstream calls made (`page` of each, order aside)."""
    text = json.dumps(sorted(page(call) for call in calls))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A body's `Authorization` header rides in the body dict under this key (never sent as JSON).
AUTHORIZATION = "_authorization"


def wire(body: Body) -> tuple[dict[str, str], bytes]:
    """The headers and the JSON bytes to POST for `body`."""
    headers = {"Content-Type": "application/json"}
    if AUTHORIZATION in body:
        headers["Authorization"] = body[AUTHORIZATION]
        body = {k: v for k, v in body.items() if k != AUTHORIZATION}
    return headers, json.dumps(body).encode()


def line(body: Body) -> str:
    """`body` as a line of the load drivers' body file: `AUTHORIZATION<TAB>JSON`, or JSON."""
    headers, data = wire(body)
    auth = headers.get("Authorization")
    return (f"{auth}\t" if auth else "") + data.decode()


def _compact(query: str) -> str:
    return " ".join(query.split())


def _value(text: str) -> str:
    """A GraphQL value: a `$variable` as it is, any other text as a string literal."""
    return text if text.startswith("$") else json.dumps(text)


# --- what the peer selects of each upstream's records ----------------------------------------

# Enough for id, provider, creation, status, remote address and the user agent.
PRIVX_BRIEF = "id user_id created expires logged_out remote_addr user_agent"
PREFACTOR_BRIEF = (
    "id status authenticated_identity_id"
    " first_seen { at remote_ip user_agent } last_seen { at remote_ip user_agent }"
)
ZITADEL_BRIEF = "id creationDate expirationDate factors { user { id } } userAgent { ip header }"
HYPERID_BRIEF = (
    "sessionID ipAddress creationTime expirationTime"
    " userAgent { name browserName osType osVersion }"
)
# Every field the documents describe: what a fully selected gateway session is made of.
PRIVX_ALL = (
    "id user_id source_id parent_session_id domain username remote_addr user_agent type"
    " created updated expires token_expires logged_out current"
)
_SEEN = "at remote_ip user_agent asn city country_code"
PREFACTOR_ALL = (
    "type id account_id domain_id pool_id device_id authenticated_identity_id session_type status"
    f" title first_seen {{ {_SEEN} }} last_seen {{ {_SEEN} }}"
)
PREFACTOR_PAGINATION = (
    "pagination { item_count item_start item_end page_count page_index page_offset page_size"
    " next_page_offset previous_page_offset }"
)
ZITADEL_ALL = (
    "id creationDate changeDate sequence expirationDate"
    " factors { user { verifiedAt id loginName displayName organizationId }"
    " password { verifiedAt } webAuthN { verifiedAt userVerified } intent { verifiedAt }"
    " totp { verifiedAt } otpSms { verifiedAt } otpEmail { verifiedAt }"
    " recoveryCode { verifiedAt } }"
    " metadata userAgent { fingerprintId ip header }"
)
_AGENT = "name deviceName deviceType osType osVersion browserName browserVersion"
_SITE = "siteName siteDomain authorizationID creationTime expirationTime scopeID"
_APP = "appHardwareName appUserName authorizationID creationTime expirationTime scopeID"
HYPERID_ALL = (
    "sessions { sessionID hostName ipAddress creationTime expirationTime identityProviderID"
    " restrictToSiteID protectionLevel requireConfirmation isOneShot"
    f" userAgent {{ {_AGENT} }} siteAuthorizations {{ {_SITE} }} }}"
    f" appAuthorizations {{ {_APP} }}"
)


# --- the peer's four listings, as the gateway calls them -------------------------------------


def privx(alias: str, offset: int, limit: int, select: str, *, user: str | None = None,
          ascending: bool = False) -> str:  # fmt: skip
    """PrivX's session search; `user` None searches every session."""
    search = "{}" if user is None else "{user_id: " + _value(user) + "}"
    direction = "ASC" if ascending else "DESC"
    return (
        f"{alias}: privx_search_sessions(offset: {offset}, limit: {limit}, sortkey: created,"
        f" sortdir: {direction}, input: {search}) {{ count items {{ {select} }} }}"
    )


def prefactor(alias: str, pool: str, page_size: int, select: str, *, identity: str | None = None,
              pagination: bool = False) -> str:  # fmt: skip
    """One Prefactor pool's first page; `identity` None lists the whole pool."""
    who = "" if identity is None else f" authenticated_identity_id: {_value(identity)}"
    return (
        f"{alias}: prefactor_list_sessions(pool_id: {_value(pool)}{who}"
        " pagination_LEFT_SQUARE_BRACE_offset_RIGHT_SQUARE_BRACE_: 0"
        f" pagination_LEFT_SQUARE_BRACE_page_size_RIGHT_SQUARE_BRACE_: {page_size})"
        f" {{ status summaries {{ {select} }}{' ' + PREFACTOR_PAGINATION if pagination else ''} }}"
    )


def zitadel(alias: str, limit: int, select: str, *, user: str | None = None,
            ascending: bool = False) -> str:  # fmt: skip
    """ZITADEL's session search, newest first unless `ascending`; `user` None: every session."""
    where = "[]" if user is None else "[{userIdQuery: {id: " + _value(user) + "}}]"
    return (
        f'{alias}: zitadel_list_sessions(input: {{query: {{offset: "0", limit: {limit},'
        f" asc: {'true' if ascending else 'false'}}}, queries: {where},"
        " sortingColumn: SESSION_FIELD_NAME_CREATION_DATE})"
        f" {{ details {{ totalResult }} sessions {{ {select} }} }}"
    )


def hyperid(alias: str, select: str) -> str:
    """Every session (and app authorization) of hyper.id's cookie user: its only listing."""
    return f"{alias}: hyperid_sessions {{ {select} }}"


def _peer(fields: list[str]) -> Body:
    return {"query": _compact("{ " + " ".join(fields) + " }")}


# --- the workloads ---------------------------------------------------------------------------

USER_QUERY = """
query UserSessions($users: [ProviderUserInput!]!) {
  sessions(first: %d, filter: {users: $users}) {
    edges { node { id provider createdAt status remoteAddress userAgent { browserName osName } } }
  }
}
"""


def _user_bodies(first: int) -> Callable[[Mocks], list[Body]]:
    def bodies(mocks: Mocks) -> list[Body]:
        return [queries.gateway_body(user, _compact(USER_QUERY % first)) for user in mocks["users"]]

    return bodies


def _user_peer(first: int) -> Callable[[Mocks], list[Body]]:
    """The gateway asks PrivX and ZITADEL for `first`, Prefactor for a page of 100 (its
    smallest useful page) and hyper.id for everything (its only listing). One document with
    variables, as the gateway's, so that both parse it once."""
    query = _compact(
        "query UserSessions($privx: String!, $identity: String!, $pool: String!,"
        " $zitadel: String!) { "
        + " ".join(
            [
                privx("privx", 0, first, PRIVX_BRIEF, user="$privx"),
                prefactor("prefactor", "$pool", 100, PREFACTOR_BRIEF, identity="$identity"),
                zitadel("zitadel", first, ZITADEL_BRIEF, user="$zitadel"),
                hyperid("hyperid", f"sessions {{ {HYPERID_BRIEF} }}"),
            ]
        )
        + " }"
    )

    return lambda mocks: _per_user(query, mocks)


def _per_user(query: str, mocks: Mocks) -> list[Body]:
    """The peer's per-user `query` once per bench user, with that user's ids as variables."""
    pool = mocks["prefactor_pool_id"]
    return [
        {
            "query": query,
            "variables": {
                "privx": user["PRIVX"],
                "identity": user["PREFACTOR"],
                "pool": pool,
                "zitadel": user["ZITADEL"],
            },
        }
        for user in mocks["users"]
    ]


PROVIDER_QUERY = """
{
  sessions(first: 100, filter: {providers: [ZITADEL]}) {
    edges { node {
      id provider createdAt expiresAt status
      user { id nativeId loginName displayName organizationId }
      userAgent { raw ip fingerprintId browserName osName }
      factors { user { verifiedAt } password { verifiedAt } }
    } }
  }
}
"""

FILTER_QUERY = """
{
  sessions(first: 20, filter: {userAgent: "firefox"}) {
    edges { node { id provider createdAt status userAgent { raw browserName osName } } }
  }
}
"""


def _full_peer(mocks: Mocks) -> list[Body]:
    """The first full page of 100: PrivX's newest 100 and, for parent and children, every PrivX
    session oldest first; a Prefactor page of 100; ZITADEL's newest 100; hyper.id's sessions
    with their site and app authorizations."""
    pool = mocks["prefactor_pool_id"]
    return [
        _peer(
            [
                privx("privx", 0, 100, PRIVX_ALL),
                privx("privx_relations", 0, 5000, "id parent_session_id source_id", ascending=True),
                prefactor("prefactor", pool, 100, PREFACTOR_ALL, pagination=True),
                zitadel("zitadel", 100, ZITADEL_ALL),
                hyperid("hyperid", HYPERID_ALL),
            ]
        )
    ]


def _filter_peer(mocks: Mocks) -> list[Body]:
    """The pages the gateway scans for 20 Firefox sessions: PrivX's newest 50 then 100 more,
    a Prefactor page of 100, ZITADEL's newest 50, hyper.id's sessions; raw user agents to
    filter on."""
    pool = mocks["prefactor_pool_id"]
    agent = "id created expires logged_out user_agent"
    return [
        _peer(
            [
                privx("privx", 0, 50, agent),
                privx("privx_more", 50, 100, agent),
                prefactor(
                    "prefactor",
                    pool,
                    100,
                    "id status first_seen { at user_agent } last_seen { at user_agent }",
                ),
                zitadel("zitadel", 50, "id creationDate expirationDate userAgent { header }"),
                hyperid(
                    "hyperid",
                    "sessions { sessionID creationTime expirationTime userAgent { "
                    + _AGENT
                    + " } }",
                ),
            ]
        )
    ]


ENTITIES_QUERY = """
query Users($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on SessionUser {
      id provider nativeId loginName displayName
      sessions(first: 20) {
        edges { node { id createdAt status userAgent { browserName osName } } }
      }
    }
  }
}
"""
ENTITY_USERS = 50


def _representations(mocks: Mocks) -> list[tuple[str, str]]:
    """50 (provider, native id) pairs: PrivX, Prefactor and ZITADEL users in turn."""
    pairs = [(p, user[p]) for user in mocks["users"] for p in ("PRIVX", "PREFACTOR", "ZITADEL")]
    return pairs[:ENTITY_USERS]


def _entities_gateway(mocks: Mocks) -> list[Body]:
    representations = [
        {"__typename": "SessionUser", "provider": provider, "nativeId": native}
        for provider, native in _representations(mocks)
    ]
    return [{"query": _compact(ENTITIES_QUERY), "variables": {"representations": representations}}]


def _entities_peer(mocks: Mocks) -> list[Body]:
    """What a router's batch of 50 users costs the gateway: one listing per provider to find
    the users (their names), then each user's first 20 sessions."""
    pool = mocks["prefactor_pool_id"]
    fields = [
        privx("privx_users", 0, 1000, "user_id username", ascending=True),
        prefactor("prefactor_users", pool, 100, "authenticated_identity_id"),
        zitadel("zitadel_users", 1000, "factors { user { id loginName displayName } }",
                ascending=True),
    ]  # fmt: skip
    for index, (provider, native) in enumerate(_representations(mocks)):
        if provider == "PRIVX":
            fields.append(privx(f"privx{index}", 0, 20, PRIVX_BRIEF, user=native))
        elif provider == "PREFACTOR":
            fields.append(prefactor(f"prefactor{index}", pool, 100, PREFACTOR_BRIEF,
                                    identity=native))  # fmt: skip
        else:
            fields.append(zitadel(f"zitadel{index}", 20, ZITADEL_BRIEF, user=native))
    return [_peer(fields)]


VIEWER_QUERY = """
query ViewerPage {
  viewer {
    person { id }
    sessions(first: 50) {
      edges { node {
        id provider createdAt status current remoteAddress userAgent { browserName osName }
      } }
    }
  }
}
"""


def _viewer_gateway(mocks: Mocks) -> list[Body]:
    """The same 28 people as the per-user workloads, each with a token naming their users
    (bench/viewer.py signs them): the page a signed-in person opens."""
    query = _compact(VIEWER_QUERY)
    return [{"query": query, AUTHORIZATION: f"Bearer {token}"} for token in mocks["viewer_tokens"]]


def _viewer_peer(mocks: Mocks) -> list[Body]:
    """The peer has no callers' identities: it is handed each person's users, as the per-user
    peer query, and asked for the listings the gateway makes for the viewer (PrivX, Prefactor
    and ZITADEL; the tokens name no hyper.id user)."""
    query = _compact(
        "query ViewerPage($privx: String!, $identity: String!, $pool: String!,"
        " $zitadel: String!) { "
        + " ".join(
            [
                # The gateway asks PrivX and ZITADEL for one more than the page here.
                privx("privx", 0, 51, PRIVX_BRIEF, user="$privx"),
                prefactor("prefactor", "$pool", 100, PREFACTOR_BRIEF, identity="$identity"),
                zitadel("zitadel", 51, ZITADEL_BRIEF, user="$zitadel"),
            ]
        )
        + " }"
    )
    return _per_user(query, mocks)


# The peer's record lists, by the prefix of the aliases above.
PEER_LISTS = {
    "privx": ("PRIVX", "items"),
    "prefactor": ("PREFACTOR", "summaries"),
    "zitadel": ("ZITADEL", "sessions"),
    "hyperid": ("HYPERID", "sessions"),
}


def sessions_answered(side: str, data: dict[str, Any]) -> Counter[str]:
    """The sessions an answer's `data` holds, by provider: the gateway's merged edges (or its
    entities' sessions), the peer's records as the upstreams gave them."""
    counts: Counter[str] = Counter()
    if side == "peer":
        for alias, value in data.items():
            for prefix, (provider, key) in PEER_LISTS.items():
                if alias.startswith(prefix) and isinstance(value, dict):
                    counts[provider] += len(value.get(key) or [])
        return counts
    listing = data.get("sessions") or (data.get("viewer") or {}).get("sessions")
    if listing:
        for edge in listing["edges"]:
            counts[edge["node"].get("provider", "?")] += 1
    for entity in data.get("_entities") or []:
        if entity:
            counts[entity["provider"]] += len(entity["sessions"]["edges"])
    return counts


@dataclass(frozen=True)
class Workload:
    """One kind of request, as the gateway and the peer are asked it."""

    name: str
    title: str
    gateway: Callable[[Mocks], list[Body]]
    # None: the peer cannot do this work; `no_peer` says why, and no ratio is reported.
    peer: Callable[[Mocks], list[Body]] | None
    no_peer: str = ""
    gateway_env: dict[str, str] = field(default_factory=dict)
    # Settings made at run time (files written for the run): bench/viewer.py.
    needs_viewer: bool = False
    # Not a request/response workload (bench/work.py measures it apart).
    kind: str = "query"


def env(workload: Workload, mocks: Mocks) -> dict[str, str]:
    """The gateway settings `workload` needs on these mocks."""
    return workload.gateway_env | (mocks["viewer_env"] if workload.needs_viewer else {})


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "user-20",
        "one user's sessions, four providers, first: 20, user agent and address",
        _user_bodies(20),
        _user_peer(20),
    ),
    Workload(
        "user-50",
        "one user's sessions, four providers, first: 50, user agent and address",
        _user_bodies(50),
        _user_peer(50),
    ),
    Workload(
        "provider-100",
        "ZITADEL's newest 100 with user, user agent and two factors",
        lambda m: [{"query": _compact(PROVIDER_QUERY)}],
        lambda m: [_peer([zitadel("zitadel", 100, ZITADEL_ALL)])],
    ),
    Workload(
        "full-100",
        "first merged page of 100, every field, parent, children, authorizations",
        lambda m: [{"query": _compact(queries.FULL_PAGE_QUERY), "variables": {"after": None}}],
        _full_peer,
    ),
    Workload(
        "filter-scan",
        "first 20 Firefox sessions (a user-agent filter the gateway scans pages for)",
        lambda m: [{"query": _compact(FILTER_QUERY)}],
        _filter_peer,
    ),
    Workload(
        "entities-50",
        "federation _entities for 50 users with their first 20 sessions",
        _entities_gateway,
        _entities_peer,
        gateway_env={"GATEWAY_FEDERATION": "true"},
    ),
    Workload(
        "viewer-page",
        "the signed-in person's page: viewer, its person and its first 50 sessions",
        _viewer_gateway,
        _viewer_peer,
        needs_viewer=True,
    ),
    Workload(
        "sse-200",
        "200 SSE subscribers of sessionEvents (one shared poller)",
        lambda m: [],
        None,
        kind="sse",
        no_peer="the peer's OpenAPI sources have no subscriptions: no equal work",
    ),
)
# The per-user workloads: their answers must hold sessions of the four providers.
PER_USER = frozenset({"user-20", "user-50"})
BY_NAME = {w.name: w for w in WORKLOADS}
