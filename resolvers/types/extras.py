"""`SessionExtras`: the union of every provider's own session fields, built from the registry.

Each member is declared by its provider's package (extras.py), in registry order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Union

import strawberry

from app.core.records import Extras
from app.upstream.registry import PACKAGES

# The members are known only at run time; Strawberry reads the union from this value.
_MEMBERS = tuple(package.extras for package in PACKAGES)
if TYPE_CHECKING:
    SessionExtras = Any
else:
    SessionExtras = Annotated[
        Union[_MEMBERS],  # noqa: UP007 - a run-time tuple of members needs Union[...]
        strawberry.union("SessionExtras", description="Provider-specific session fields."),
    ]

_CONVERT: dict[type[Extras], Callable[[Any], object]] = {
    package.records: package.extras.from_record for package in PACKAGES
}


def extras_from_record(extras: Extras) -> object:
    """The GraphQL object for a record's provider-specific part."""
    return _CONVERT[type(extras)](extras)
