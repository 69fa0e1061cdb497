"""The libraries' own paths beside the gateway's shortcuts, to compare the two in tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from strawberry.types.base import get_object_definition


@contextlib.contextmanager
def strawberrys_own(*types: type) -> Iterator[None]:
    """Strawberry's own conversion for the input `types` while inside, whatever hook they have
    (resolvers/engine/inputs.py)."""
    definitions = [get_object_definition(kind, strict=True) for kind in types]
    hooks = [definition.from_input for definition in definitions]
    for definition in definitions:
        definition.from_input = None
    try:
        yield
    finally:
        for definition, hook in zip(definitions, hooks, strict=True):
            definition.from_input = hook
