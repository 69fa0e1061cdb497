"""DateTime, specified: what the gateway sends and what it accepts, for clients and codegen."""

from __future__ import annotations

import datetime as dt

from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

DATE_TIME_SPEC = "https://scalars.graphql.org/andimarek/date-time"

# Strawberry's own DateTime (isoformat out, ISO 8601 in), described and with @specifiedBy.
# Every timestamp is normalised to UTC where it is parsed (app/upstream/timestamps.py), and
# datetime.isoformat writes 6 fraction digits when there are microseconds, none otherwise.
DateTime = ScalarDefinition(
    name="DateTime",
    description=(
        "An instant, as an RFC 3339 date-time string (the date-time scalar specification). "
        "Sent in UTC with a `+00:00` offset, with 6 fraction digits when the upstream gave "
        "sub-second precision and none otherwise, e.g. `2024-05-14T08:00:00+00:00` or "
        "`2024-05-14T08:00:00.250000+00:00`; `new Date(value)` and `Date.parse` read both. "
        "Accepted as RFC 3339 with an offset, `Z` or `±hh:mm` (e.g. `2024-05-14T08:00:00Z`); "
        "a value without one is refused with a message saying so."
    ),
    specified_by_url=DATE_TIME_SPEC,
    serialize=DateTimeDefinition.serialize,
    parse_value=DateTimeDefinition.parse_value,
    parse_literal=DateTimeDefinition.parse_literal,
    origin=dt.datetime,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {dt.datetime: DateTime}
