"""Ground truth for integration tests: the mock data, normalised by the adapters' parsers."""

from __future__ import annotations

from datetime import UTC, datetime

from app.listing.filter import SessionFilter
from app.mocks import MockData
from app.upstream import hyperid, kratos, prefactor, privx, zitadel
from app.upstream.records import SessionRecord


def all_records(data: MockData) -> list[SessionRecord]:
    now = datetime.now(UTC)
    return [
        *(privx.parse_session(item, now) for item in data.privx),
        *(prefactor.parse_session(item, now) for item in data.prefactor),
        *(zitadel.parse_session(item, now) for item in data.zitadel),
        *(hyperid.parse_session(item, now) for item in data.hyperid_sessions),
        *(kratos.parse_session(item, now) for item in data.kratos),
    ]


def expected_ids(data: MockData, session_filter: SessionFilter, descending: bool) -> list[str]:
    """Global ids the gateway must list for `session_filter`, in order."""
    records = [r for r in all_records(data) if session_filter.matches(r)]
    records.sort(key=lambda r: r.sort_key, reverse=descending)
    return [r.global_id for r in records]
