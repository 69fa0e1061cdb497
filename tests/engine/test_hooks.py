"""The extensions' hooks run by resolvers/engine/hooks.py as Strawberry's own runner runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from resolvers.engine.hooks import HooksRunner, lean_runner
from resolvers.schema import GatewaySchema, schema


def _recording(name: str, journal: list[str]) -> type[SchemaExtension]:
    """An extension whose every stage notes its entry and exit, and what it saw of errors."""

    def stage(label: str) -> Any:
        def hook(self: SchemaExtension) -> Iterator[None]:
            journal.append(f"{name} enters {label}")
            try:
                yield
            except ValueError as exc:
                journal.append(f"{name} sees {exc} in {label}")
                raise
            journal.append(f"{name} leaves {label}")

        return hook

    hooks = {h: stage(h.removeprefix("on_")) for h in ("on_operation", "on_parse", "on_validate")}
    return type(name, (SchemaExtension,), hooks)


class Swallows(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        try:
            yield
        except ValueError:
            return  # handled: the error stops here


class AsyncHook(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


def _stages(runner: SchemaExtensionsRunner) -> dict[str, Any]:
    return {"operation": runner.operation, "parse": runner.parsing, "validate": runner.validation}


async def _journal(
    make_runner: Any, *, fail_in: str | None = None, entered_async: bool = False
) -> list[str]:
    """What two recording extensions note through every stage, with `make_runner`'s runner,
    each stage entered by `with` or (as Strawberry's execute does) by `async with`."""
    journal: list[str] = []
    extensions = [_recording("A", journal)(), _recording("B", journal)()]

    def body(label: str) -> None:
        journal.append(f"body of {label}")
        if label == fail_in:
            raise ValueError("boom")

    for label, stage in _stages(make_runner(None, extensions)).items():
        try:
            if entered_async:
                async with stage():
                    body(label)
            else:
                with stage():
                    body(label)
        except ValueError:
            journal.append(f"{label} raised")
    return journal


def _strawberrys(context: Any, extensions: list[SchemaExtension]) -> SchemaExtensionsRunner:
    return SchemaExtensionsRunner(context, extensions)


@pytest.mark.parametrize("fail_in", [None, "operation", "validate"])
async def test_hooks_nest_and_see_errors_as_in_strawberrys_runner(
    fail_in: str | None,
) -> None:
    assert isinstance(lean_runner(None, [_recording("A", [])()]), HooksRunner)  # type: ignore[arg-type]
    ours = await _journal(lean_runner, fail_in=fail_in)

    assert ours == await _journal(_strawberrys, fail_in=fail_in)
    assert ours[:4] == ["A enters operation", "B enters operation", "body of operation"] + (
        ["B sees boom in operation"] if fail_in == "operation" else ["B leaves operation"]
    )
    if fail_in == "operation":
        assert ours[4:6] == ["A sees boom in operation", "operation raised"]


@pytest.mark.parametrize("fail_in", [None, "parse"])
async def test_the_same_entered_with_async_with(fail_in: str | None) -> None:
    ours = await _journal(lean_runner, fail_in=fail_in, entered_async=True)

    assert ours == await _journal(_strawberrys, fail_in=fail_in, entered_async=True)
    assert "A sees boom in parse" in ours or fail_in is None


@pytest.mark.parametrize("make_runner", [lean_runner, _strawberrys])
async def test_an_error_a_hook_handles_still_goes_on_as_in_strawberrys_runner(
    make_runner: Any,
) -> None:
    runner = make_runner(None, [Swallows()])
    with pytest.raises(ValueError, match="handled by the hook"):
        async with runner.executing():
            raise ValueError("handled by the hook")
    with pytest.raises(ValueError, match="and in a sync stage"), runner.executing():
        raise ValueError("and in a sync stage")


def test_an_extension_with_another_kind_of_hook_keeps_strawberrys_runner() -> None:
    assert isinstance(lean_runner(None, [Swallows()]), HooksRunner)  # type: ignore[arg-type]
    runner = lean_runner(None, [Swallows(), AsyncHook()])  # type: ignore[arg-type]

    assert type(runner) is SchemaExtensionsRunner


async def test_the_gateway_schema_runs_its_extensions_through_the_lean_runner() -> None:
    journal: list[str] = []
    built = GatewaySchema(query=Query, extensions=[_recording("A", journal)])
    result = await built.execute("{ hello }")

    assert result.data == {"hello": "hi"}
    assert journal == [
        "A enters operation",
        "A enters parse",
        "A leaves parse",
        "A enters validate",
        "A leaves validate",
        "A leaves operation",
    ]
    # The gateway's own extensions (documents, request log, errors) all take the lean runner.
    extensions = schema.get_extensions()
    assert len(extensions) >= 3
    assert isinstance(schema.create_extensions_runner(None, extensions), HooksRunner)  # type: ignore[arg-type]
    plain = GatewaySchema(query=Query, fast_path=False)
    assert type(plain.create_extensions_runner(None, [])) is SchemaExtensionsRunner  # type: ignore[arg-type]


def test_a_hook_replaced_on_its_class_is_the_one_that_runs_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal: list[str] = []
    kind = _recording("A", journal)
    with lean_runner(None, [kind()]).operation():  # type: ignore[arg-type]
        pass

    def replaced(self: SchemaExtension) -> Iterator[None]:
        journal.append("replacement")
        yield

    monkeypatch.setattr(kind, "on_operation", replaced)
    with lean_runner(None, [kind()]).operation():  # type: ignore[arg-type]
        pass

    assert journal == ["A enters operation", "A leaves operation", "replacement"]
    monkeypatch.setattr(kind, "on_operation", AsyncHook.on_operation)
    assert type(lean_runner(None, [kind()])) is SchemaExtensionsRunner  # type: ignore[arg-type]
