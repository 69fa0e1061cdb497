"""The schema extensions' lifecycle hooks, found once per extension class instead of per request.

Strawberry's runner rebuilds each stage's context manager for every request: for four stages
and every extension it looks the hook up, asks `inspect` what kind of function it is, wraps it
with `contextlib.contextmanager` (copying the function's metadata each time) and enters it
through an exit stack, a cost per request that docs/performance.md measures. Here the lookup
and the wrapping happen once per extension class; a request only makes each hook's
generator context manager, and a stage with one hook enters it directly. The order (the
extensions' order on entry, the reverse on exit) and exception handling are contextlib's, as
in Strawberry's runner, which also never lets a hook suppress an error.

Only hooks written as plain generators (`def on_operation(self): ... yield ...`, as all of the
gateway's are) are taken this way. If an extension has a hook of another kind (an async
generator, a plain or async function), the schema keeps Strawberry's own runner. So does a
schema built where Strawberry's runner is not what `HOOKS` checks (resolvers/engine/internals.py).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from resolvers.engine.internals import seam, signature_problems

__all__ = ["HOOKS", "HooksRunner", "lean_runner"]

_STAGES = ("on_operation", "on_parse", "on_validate", "on_execute")
Hook = Callable[[SchemaExtension], contextlib.AbstractContextManager[None]]

# What HooksRunner overrides on Strawberry's runner, and the schema method that makes one.
_RUNNER_METHODS = {
    "__init__": ("self", "execution_context", "extensions"),
    "operation": ("self",),
    "parsing": ("self",),
    "validation": ("self",),
    "executing": ("self",),
}
_SCHEMA_METHODS = {"create_extensions_runner": ("self", "execution_context", "extensions")}


# By class: its four hook functions as last seen, and what _find made of them. Weak, so that
# a class made on the fly (tests) goes when nothing else holds it.
_FOUND: weakref.WeakKeyDictionary[
    type[SchemaExtension], tuple[tuple[object, ...], dict[str, Hook] | None]
] = weakref.WeakKeyDictionary()


def _hooks(kind: type[SchemaExtension]) -> dict[str, Hook] | None:
    """The stages `kind` overrides, each as a context manager factory; None if one of its
    hooks is not a plain generator function."""
    # Strawberry looks the hooks up on every request: a hook replaced on the class since (a
    # test's monkeypatch) is found again here too.
    current = tuple(getattr(kind, stage) for stage in _STAGES)
    known = _FOUND.get(kind)
    if known is not None and known[0] == current:
        return known[1]
    found = _find(current)
    _FOUND[kind] = (current, found)
    return found


def _find(hooks: tuple[object, ...]) -> dict[str, Hook] | None:
    found: dict[str, Hook] = {}
    for stage, hook in zip(_STAGES, hooks, strict=True):
        if hook is getattr(SchemaExtension, stage):
            continue
        if not inspect.isgeneratorfunction(hook):
            return None
        found[stage] = contextlib.contextmanager(hook)
    return found


def _problems() -> list[str]:
    """How Strawberry's runner, stages and hooks differ from what HooksRunner stands in for."""
    problems = signature_problems(SchemaExtensionsRunner, _RUNNER_METHODS)
    problems += signature_problems(strawberry.Schema, _SCHEMA_METHODS)
    problems += signature_problems(SchemaExtension, {stage: ("self",) for stage in _STAGES})
    return problems


HOOKS = seam(
    "The extensions' hooks runner (resolvers/engine/hooks.py)",
    "every request takes Strawberry's runner",
    _problems,
)


def lean_runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    """A runner for `extensions`: this module's if every hook is a plain generator, else
    Strawberry's."""
    stages: dict[str, list[tuple[Hook, SchemaExtension]]] = {stage: [] for stage in _STAGES}
    for extension in extensions:
        hooks = _hooks(type(extension))
        if hooks is None:
            return SchemaExtensionsRunner(execution_context, extensions)
        for stage, hook in hooks.items():
            stages[stage].append((hook, extension))
    return HooksRunner(execution_context, extensions, stages)


class HooksRunner(SchemaExtensionsRunner):
    """Strawberry's runner with each stage entered through `_Stage` (streamed results and
    `get_results` as Strawberry's)."""

    def __init__(
        self,
        execution_context: ExecutionContext,
        extensions: list[SchemaExtension],
        stages: dict[str, list[tuple[Hook, SchemaExtension]]],
    ) -> None:
        super().__init__(execution_context, extensions)
        self._stages = stages

    def operation(self) -> Any:
        return _Stage(self._stages["on_operation"])

    def parsing(self) -> Any:
        return _Stage(self._stages["on_parse"])

    def validation(self) -> Any:
        return _Stage(self._stages["on_validate"])

    def executing(self) -> Any:
        return _Stage(self._stages["on_execute"])


class _Stage:
    """One stage's hooks as one context manager, sync or async, as Strawberry's are."""

    __slots__ = ("_entered", "_hooks")

    def __init__(self, hooks: list[tuple[Hook, SchemaExtension]]) -> None:
        self._hooks = hooks
        self._entered: contextlib.AbstractContextManager[Any] | None = None

    def __enter__(self) -> None:
        hooks = self._hooks
        if not hooks:
            return
        if len(hooks) == 1:
            hook, extension = hooks[0]
            manager: contextlib.AbstractContextManager[Any] = hook(extension)
            manager.__enter__()
        else:
            # As Strawberry's runner: an error entering one hook leaves those entered before
            # it to the collector.
            manager = contextlib.ExitStack()
            for hook, extension in hooks:
                manager.enter_context(hook(extension))
        self._entered = manager

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Never suppresses: Strawberry's stages drop what their exit stack answers, so an
        # error goes on even if a hook handles it.
        entered, self._entered = self._entered, None
        if entered is not None:
            entered.__exit__(exc_type, exc, traceback)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)
