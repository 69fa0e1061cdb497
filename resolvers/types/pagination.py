"""Connection plumbing shared by every list: PageInfo and page-size arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import strawberry

from app.core.errors import BadUserInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@strawberry.type(description="Where a page stands in its connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    # Cursors are signed, so they are made only when a query selects them.
    first_cursor: strawberry.Private[Callable[[], str | None]]
    last_cursor: strawberry.Private[Callable[[], str | None]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self.first_cursor()

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self.last_cursor()


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Validated `first/after/last/before`: a direction, a size and an optional cursor."""

    forward: bool
    size: int
    cursor: str | None

    @property
    def cursor_argument(self) -> str:
        return "after" if self.forward else "before"


def page_args(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageArgs:
    """Check the Cursor Connections arguments; each misuse gets its own message."""
    if first is not None and last is not None:
        raise BadUserInput("Pass either `first` or `last`, not both.")
    if after is not None and before is not None:
        raise BadUserInput("Pass either `after` or `before`, not both.")
    if first is not None and before is not None:
        raise BadUserInput("`first` pages forward from `after`; use `last` with `before`.")
    if last is not None and after is not None:
        raise BadUserInput("`last` pages backward from `before`; use `first` with `after`.")
    forward = last is None and before is None
    size = (first if forward else last) or DEFAULT_PAGE_SIZE
    given = first if forward else last
    if given is not None and not 1 <= given <= MAX_PAGE_SIZE:
        name = "first" if forward else "last"
        raise BadUserInput(f"`{name}` must be between 1 and {MAX_PAGE_SIZE}, got {given}.")
    return PageArgs(forward, size, after if forward else before)
