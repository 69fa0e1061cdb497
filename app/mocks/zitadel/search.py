"""Parsing of a ZITADEL `ListSessionsRequest` body into paging and a filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.mocks.timestamps import parse_iso_ns

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "InvalidArgument", "Search", "parse_search"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
Predicate = Callable[[dict[str, Any]], bool]

_METHODS = (
    "TIMESTAMP_QUERY_METHOD_EQUALS",
    "TIMESTAMP_QUERY_METHOD_GREATER",
    "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS",
    "TIMESTAMP_QUERY_METHOD_LESS",
    "TIMESTAMP_QUERY_METHOD_LESS_OR_EQUALS",
)
_COMPARE: tuple[Callable[[int, int], bool], ...] = (
    lambda a, b: a == b,
    lambda a, b: a > b,
    lambda a, b: a >= b,
    lambda a, b: a < b,
    lambda a, b: a <= b,
)
_SORTING_COLUMNS = ("SESSION_FIELD_NAME_UNSPECIFIED", "SESSION_FIELD_NAME_CREATION_DATE")
# Request JSON may use the lowerCamelCase or the proto snake_case name of each field.
_QUERY_NAMES = {
    "idsQuery": "ids", "ids_query": "ids",
    "userIdQuery": "user", "user_id_query": "user",
    "creationDateQuery": "creation", "creation_date_query": "creation",
    "creatorQuery": "creator", "creator_query": "creator",
    "userAgentQuery": "agent", "user_agent_query": "agent",
    "expirationDateQuery": "expiration", "expiration_date_query": "expiration",
}  # fmt: skip


class InvalidArgument(ValueError):
    """The request breaks the API's rules: gRPC code 3."""


@dataclass(frozen=True, slots=True)
class Search:
    """What to return: a filter plus offset, limit and direction."""

    offset: int
    limit: int
    asc: bool
    matches: Predicate
    filtered: bool = True  # False: there are no queries, everything matches


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _uint(value: Any, name: str) -> int:
    # protojson takes 64-bit integers as JSON numbers or decimal strings.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(f"invalid value for {name}: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r}") from None
    if number < 0:
        raise InvalidArgument(f"invalid value for {name}: {value!r}")
    return number


def _enum(value: Any, names: tuple[str, ...], name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    raise InvalidArgument(f"invalid value for enum {name}: {value!r}")


def _timestamp(value: Any, name: str) -> int:
    if value is None:
        return 0  # An unset Timestamp is the epoch.
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid value for {name}: {value!r}")
    try:
        return parse_iso_ns(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r}") from None


def _string(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid value for {name}: {value!r}")
    return value


def _date_filter(body: dict[str, Any], key: str, snake: str) -> Predicate:
    wanted = _timestamp(_field(body, key, snake), key)
    method = _enum(body.get("method"), _METHODS, "method")
    compare = _COMPARE[method]
    # ZITADEL's expirationDateQueryToQuery ORs "expiration IS NULL" into GREATER(_OR_EQUALS):
    # a session that never expires is later than any date.
    unset_matches = key == "expirationDate" and "GREATER" in str(method)

    def matches(session: dict[str, Any]) -> bool:
        if key not in session:
            return unset_matches
        return compare(parse_iso_ns(session[key]), wanted)

    return matches


def _query(element: Any, caller_id: str, creators: dict[str, str]) -> Predicate:
    if not isinstance(element, dict) or len(element) != 1:
        raise InvalidArgument("each query must hold exactly one of its query fields")
    (key, body), = element.items()  # fmt: skip
    kind = _QUERY_NAMES.get(key)
    if kind is None:
        raise InvalidArgument(f"unknown query field {key!r}")
    if not isinstance(body, dict):
        raise InvalidArgument(f"invalid value for {key}: {body!r}")
    if kind == "ids":
        ids = body.get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidArgument(f"invalid value for ids: {ids!r}")
        return lambda s: s["id"] in ids
    if kind == "user":
        user_id = _string(body.get("id"), "id")
        return lambda s: s.get("factors", {}).get("user", {}).get("id") == user_id
    if kind == "creator":
        creator = _string(body.get("id"), "id") or caller_id
        return lambda s: creators.get(s["id"]) == creator
    if kind == "agent":
        fingerprint = _string(_field(body, "fingerprintId", "fingerprint_id"), "fingerprintId")
        if not fingerprint:
            raise InvalidArgument("the token carries no user agent to search by")
        return lambda s: s.get("userAgent", {}).get("fingerprintId") == fingerprint
    if kind == "creation":
        return _date_filter(body, "creationDate", "creation_date")
    return _date_filter(body, "expirationDate", "expiration_date")


def parse_search(body: Any, caller_id: str, creators: dict[str, str]) -> Search:
    """Read a request body (already JSON-decoded); unknown top-level keys are ignored."""
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise InvalidArgument(f"invalid value for query: {query!r}")
    offset = _uint(query.get("offset", 0), "offset")
    limit = _uint(query.get("limit", 0), "limit") or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise InvalidArgument(f"limit {limit} exceeds the maximum of {MAX_LIMIT}")
    asc = query.get("asc", False)
    if not isinstance(asc, bool):
        raise InvalidArgument(f"invalid value for asc: {asc!r}")
    _enum(_field(body, "sortingColumn", "sorting_column"), _SORTING_COLUMNS, "sortingColumn")
    queries = body.get("queries") or []
    if not isinstance(queries, list):
        raise InvalidArgument(f"invalid value for queries: {queries!r}")
    predicates = [_query(element, caller_id, creators) for element in queries]
    return Search(offset, limit, asc, lambda s: all(p(s) for p in predicates), bool(predicates))
