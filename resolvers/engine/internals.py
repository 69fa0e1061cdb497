"""The one seam to other projects' internals: each reach declared as a `Seam`, checked at start.

Every shortcut that relies on what graphql-core, Strawberry or uvicorn do not promise declares
a `Seam`: what it is, what runs instead, and a check of the internals it relies on. The check
runs when the app or the schema is built, never per request. A shortcut whose check fails is
off, with one warning, and the library's own path runs instead; `GATEWAY_FAST_PATH=false`
turns them all off without checking. Transport limits are not a shortcut: their seam is
`required`, and start-up stops where its check fails.

The seams (`SEAMS` once their modules are imported):

- the short path for plain fields, resolvers/engine/execution.py
- compiled plans, resolvers/engine/plan.py
- the extensions' hooks runner, resolvers/engine/hooks.py
- input converters, resolvers/engine/inputs.py
- the lean POST path past Strawberry's view, app/http/lean.py
- the transport limits in uvicorn's protocols, app/http/serving.py (required)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SEAMS",
    "Seam",
    "annotation_problems",
    "checked",
    "seam",
    "signature_problems",
    "warn_once",
]

log = logging.getLogger("session_gateway")

_warned: set[str] = set()

# By `what`: every seam declared so far.
SEAMS: dict[str, Seam] = {}


@dataclass(frozen=True, slots=True)
class Seam:
    """One reach into another project's internals, and what runs when it cannot be trusted."""

    what: str  # the shortcut and its module, as the warning names it
    instead: str  # what runs when it is off
    problems: Callable[..., list[str]]  # how the internals differ from what it expects
    libraries: str = "graphql-core or Strawberry"

    def usable(self, *subject: Any, fast_path: bool = True) -> bool:
        """Whether to take the shortcut (for `subject`, passed to the check): never with the
        fast path off; else only if the check passes, with one warning when it does not."""
        if not fast_path:
            return False
        problems = checked(lambda: self.problems(*subject))
        if problems:
            warn_once(self.what, problems, self.instead, self.libraries)
            return False
        return True

    def require(self, *subject: Any) -> None:
        """Stop start-up (RuntimeError) if the check fails: for a seam with no other path."""
        problems = checked(lambda: self.problems(*subject))
        if problems:
            raise RuntimeError(
                f"{self.what} cannot run: {self.libraries} is not what it was written against "
                f"({'; '.join(problems)}); {self.instead}."
            )


def seam(
    what: str,
    instead: str,
    problems: Callable[..., list[str]],
    libraries: str = "graphql-core or Strawberry",
) -> Seam:
    """A `Seam`, listed in `SEAMS`."""
    declared = SEAMS[what] = Seam(what, instead, problems, libraries)
    return declared


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


def warn_once(
    what: str, problems: list[str], instead: str, libraries: str = "graphql-core or Strawberry"
) -> None:
    """Log, once per process and `what`, that `what` is off because of `problems`."""
    if what in _warned:
        return
    _warned.add(what)
    log.warning(
        "%s is off: %s is not what it was written against (%s); %s.",
        what,
        libraries,
        "; ".join(problems),
        instead,
    )


def _name(owner: object) -> str:
    found = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None)
    return str(found or type(owner).__qualname__)
