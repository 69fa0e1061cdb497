"""Ground truth for the property walks over the generated world: the mock data, normalised by
the adapters' parsers and filtered by SessionFilter.

That is the code under test, so tests/types/test_walks.py checks these expectations against its own
reading of the raw mock JSON; tests with answers written down use tests/support/world.py instead.
"""

from __future__ import annotations

from app.core.records import SessionRecord
from app.listing.filter import SessionFilter
from app.mocks import MockData
from app.upstream.registry import PACKAGES


def all_records(data: MockData) -> list[SessionRecord]:
    # Statuses as of the world's own clock: tests/conftest.py keeps every expiry far enough
    # from it that the gateway's wall clock sees the same ones for the whole run.
    return [
        package.parse_session(item, data.now)
        for package in PACKAGES
        for item in data.sessions(package.kind.provider.value)
    ]


def expected_ids(data: MockData, session_filter: SessionFilter, descending: bool) -> list[str]:
    """Global ids the gateway must list for `session_filter`, in order."""
    records = [r for r in all_records(data) if session_filter.matches(r)]
    records.sort(key=lambda r: r.sort_key, reverse=descending)
    return [r.global_id for r in records]
