"""Eager coroutines: a field's coroutine run at once, as far as it goes without waiting.

graphql-core gathers the awaitables of a selection set, each in a task of its own, and awaits
them together. Some async fields (a session's `parent`, `children` and `authorizations`) mostly
return without waiting, and each still costs a coroutine, a task, a done callback and a gather.
`eager` steps such a coroutine once where it is made. One that finishes gives its value there
and then, as a plain field would. One that waits is handed on as a coroutine that goes on from
where it stopped, in the same context, in the task that graphql-core's gather gives it.

Only resolvers marked `runs_eagerly` are stepped so: the first step runs in the caller's task,
so it must not enter anything bound to the current task (`asyncio.timeout`, a TaskGroup,
aiohttp's timeouts: an upstream call) before it first waits; a marked resolver waits on a
dataloader, whose batch runs in a task of its own. What the caller sees stays as before: the
field errors the step collected are held back, and an exception it raised is kept, until the
caller awaits the field, which is when graphql-core would have run it; graphql-core then
records them as it would have, dropping those under a position nulled meanwhile. Python 3.12's
eager task factory does the like for tasks; this gateway runs on 3.11.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from graphql import Executor, GraphQLError
from graphql.pyutils import Path

from resolvers.engine.internals import signature_problems

try:  # Not public API: if it moves, `eager_problems` says so and plans stay off.
    from graphql.execution.executor import CollectedErrors
except ImportError as error:  # pragma: no cover - only on another release
    CollectedErrors = object  # type: ignore[assignment,misc]
    _IMPORT_PROBLEM: str | None = f"an import failed: {error}"
else:
    _IMPORT_PROBLEM = None

__all__ = ["eager", "eager_problems", "runs_eagerly", "steps_eagerly"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__runs_eagerly__"


def runs_eagerly(resolver: F) -> F:
    """Mark an async resolver whose coroutine may take its first step in the caller's task:
    before it first waits, it enters nothing bound to the current task."""
    setattr(resolver, _MARK, True)
    return resolver


def steps_eagerly(resolver: object) -> bool:
    """Whether `resolver` is marked by `runs_eagerly`."""
    return getattr(resolver, _MARK, False) is True


def eager_problems() -> list[str]:
    """How graphql-core's error collection differs from what eager steps hold back."""
    if _IMPORT_PROBLEM is not None:
        return [_IMPORT_PROBLEM]
    return signature_problems(CollectedErrors, {"add": ("self", "error", "path")})


class _Held(CollectedErrors):
    """The field errors of an eager step, kept in order for the executor's own collection."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[GraphQLError, Path | None]] = []

    def add(self, error: GraphQLError, path: Path | None) -> None:
        self.items.append((error, path))

    def release(self, executor: Executor[Any]) -> None:
        """Hand the errors to whoever collects `executor`'s errors now."""
        collected = executor.collected_errors
        for error, path in self.items:
            collected.add(error, path)


def eager(coroutine: Coroutine[Any, Any, Any], executor: Executor[Any]) -> Any:
    """`coroutine`'s value if it finishes without waiting or error, else an awaitable of it."""
    # A context of its own, as a task would give it: what it sets stays its own.
    context = contextvars.copy_context()
    collected = executor.collected_errors
    held = executor.collected_errors = _Held()
    try:
        waiting = context.run(coroutine.send, None)
    except StopIteration as done:
        if not held.items:
            return done.value
        return _Settled(done.value, None, held, executor)
    except Exception as error:
        return _Settled(None, error, held, executor)
    finally:
        executor.collected_errors = collected
    # A future sets this flag when awaited, for the task that takes it to clear; until then
    # no other coroutine can await it. Cleared here as a task would, set again for the task
    # that goes on with this one.
    blocking = getattr(waiting, "_asyncio_future_blocking", False) is True
    if blocking:
        waiting._asyncio_future_blocking = False
    return _Resumed(coroutine, waiting, context, blocking, held, executor)


class _Settled:
    """A coroutine that finished (or raised) in its eager step, with errors held back."""

    __slots__ = ("error", "executor", "held", "value")

    def __init__(
        self, value: Any, error: Exception | None, held: _Held, executor: Executor[Any]
    ) -> None:
        self.value = value
        self.error = error
        self.held = held
        self.executor = executor

    def __await__(self) -> Generator[Any, Any, Any]:
        self.held.release(self.executor)
        if self.error is not None:
            raise self.error
        return self.value
        yield  # a generator, so that awaiting it runs the above  # pragma: no cover


class _Resumed(Coroutine[Any, Any, Any]):
    """A coroutine stopped in its eager step, to be run on from where it stopped.

    A coroutine itself (send, throw, close), so that a task wraps it directly: a cancellation
    before the task first runs it reaches the stopped coroutine, and graphql-core closes it
    as it closes the others where no loop runs to settle it."""

    __slots__ = ("blocking", "context", "coroutine", "executor", "held", "waiting")

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, Any],
        waiting: Any,
        context: contextvars.Context,
        blocking: bool,
        held: _Held,
        executor: Executor[Any],
    ) -> None:
        self.coroutine = coroutine
        self.waiting: Any = waiting  # what it waits on, until handed over
        self.context = context
        self.blocking = blocking
        self.held: _Held | None = held
        self.executor = executor

    def _start(self) -> None:
        """The first time it is run on: what graphql-core would have seen so far."""
        held, self.held = self.held, None
        if held is not None:
            held.release(self.executor)

    def send(self, value: Any) -> Any:
        if self.held is not None:
            self._start()
            waiting, self.waiting = self.waiting, None
            if self.blocking:  # handed to the task as the future handed it
                waiting._asyncio_future_blocking = True
            return waiting
        return self.context.run(self.coroutine.send, value)

    def throw(self, *error: Any) -> Any:
        self._start()
        self.waiting = None
        return self.context.run(self.coroutine.throw, *error)

    def close(self) -> None:
        self.held = None
        self.waiting = None
        self.context.run(self.coroutine.close)

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # send and throw, as a generator has

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> _Resumed:
        return self

    def __del__(self) -> None:
        # Dropped unawaited (a sibling's null ended the selection): cleaned up in its context.
        if getattr(self.coroutine, "cr_frame", None) is not None:
            self.close()
