"""Checks that the graphql-core and Strawberry internals the fast paths use are as expected.

The short path (resolvers/engine/execution.py) reaches into private parts of both libraries. It is
built only after these checks pass; otherwise it logs one warning and the stock executor takes
over.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping

__all__ = ["annotation_problems", "checked", "signature_problems", "warn_once"]

log = logging.getLogger("session_gateway")

_warned: set[str] = set()


def signature_problems(owner: object, expected: Mapping[str, Iterable[str]]) -> list[str]:
    """How the callables of `owner` named in `expected` differ from their parameter names."""
    problems = []
    for name, parameters in expected.items():
        wanted = list(parameters)
        found = getattr(owner, name, None)
        if not callable(found):
            problems.append(f"{_name(owner)}.{name} is missing")
            continue
        try:
            actual = list(inspect.signature(found).parameters)
        except (TypeError, ValueError):
            problems.append(f"{_name(owner)}.{name} has no readable signature")
            continue
        if actual != wanted:
            problems.append(
                f"{_name(owner)}.{name}({', '.join(actual)}) is not ({', '.join(wanted)})"
            )
    return problems


def annotation_problems(owner: type, names: Iterable[str]) -> list[str]:
    """Which of `names` no class in `owner`'s MRO declares as an attribute."""
    declared = {n for cls in owner.__mro__ for n in getattr(cls, "__annotations__", {})}
    return [f"{owner.__qualname__}.{n} is not declared" for n in names if n not in declared]


def checked(problems: Callable[[], list[str]]) -> list[str]:
    """`problems()`, or why it could not run: a check must not raise."""
    try:
        return problems()
    except Exception as error:  # an internal changed so much that the check itself broke
        return [f"the check failed: {error!r}"]


def warn_once(what: str, problems: list[str], instead: str) -> None:
    """Log, once per process and `what`, that `what` is off because of `problems`."""
    if what in _warned:
        return
    _warned.add(what)
    log.warning(
        "%s is off: graphql-core or Strawberry is not what it was written against (%s); %s.",
        what,
        "; ".join(problems),
        instead,
    )


def _name(owner: object) -> str:
    found = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None)
    return str(found or type(owner).__qualname__)
