"""The seam to other projects' internals (resolvers/engine/internals.py): each reach is listed,
a failed check gives one warning and the library's own path with the same answers, and
GATEWAY_FAST_PATH=false installs nothing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import strawberry
from starlette.routing import Route
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types.base import get_object_definition

import app.main  # noqa: F401 - declares the edge's seams
from app.http import lean, serving
from app.http.serving import server_options
from app.http.view import GatewayGraphQL
from app.settings import Settings
from resolvers.engine import hooks, inputs, internals
from resolvers.engine.gateway_schema import GatewaySchema
from resolvers.engine.hooks import HooksRunner
from tests.support.live import LiveStack, post
from tests.support.paths import ROOT


@pytest.fixture
def warnings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the warnings given so far."""
    monkeypatch.setattr(internals, "_warned", set())


def test_every_reach_into_other_projects_internals_is_a_listed_seam() -> None:
    assert set(internals.SEAMS) == {
        "The short path for plain fields (resolvers/engine/execution.py)",
        "Compiled plans (resolvers/engine/plan.py)",
        "The extensions' hooks runner (resolvers/engine/hooks.py)",
        "Input converters (resolvers/engine/inputs.py)",
        "The lean POST path (app/http/lean.py)",
        "The transport limits in uvicorn's protocols (app/http/serving.py)",
    }
    # With the libraries this gateway was written against, every check passes.
    schema = strawberry.Schema(query=Query)
    for what, seam in internals.SEAMS.items():
        subject = (schema, schema.execution_context_class) if "short path" in what else ()
        assert seam.problems(*subject) == [], what


# The extensions' hooks runner.


def _journaling(journal: list[str]) -> type[SchemaExtension]:
    class Journal(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            journal.append("operation")
            yield
            journal.append("operation done")

        def on_execute(self) -> Iterator[None]:
            journal.append("execute")
            yield

    return Journal


@strawberry.input
class Window:
    since: int = 0
    tags: list[str] | None = None


@strawberry.input
class Search:
    window: Window | None = None
    names: list[str] | None = None


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"

    @strawberry.field
    def search(self, search: Search) -> str:
        return repr(search)


async def test_a_failed_hooks_check_keeps_strawberrys_runner_with_one_warning(
    warnings_once: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours: list[str] = []
    lean_schema = GatewaySchema(query=Query, extensions=[_journaling(ours)])
    monkeypatch.setattr(hooks, "_RUNNER_METHODS", {"operation": ("self", "renamed")})
    theirs: list[str] = []
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        built = [GatewaySchema(query=Query, extensions=[_journaling(theirs)]) for _ in range(2)]

    (record,) = caplog.records
    assert record.getMessage().startswith("The extensions' hooks runner")
    assert "every request takes Strawberry's runner" in record.getMessage()
    assert lean_schema.lean_hooks
    assert not built[0].lean_hooks
    runner = built[0].create_extensions_runner(None, [])  # type: ignore[arg-type]
    assert type(runner) is SchemaExtensionsRunner
    assert isinstance(lean_schema.create_extensions_runner(None, []), HooksRunner)  # type: ignore[arg-type]
    expected = await lean_schema.execute("{ hello }")
    result = await built[0].execute("{ hello }")
    assert result.data == expected.data == {"hello": "hi"}
    assert theirs == ours == ["operation", "execute", "operation done"]


def test_the_hooks_runner_is_off_with_the_fast_path_without_a_check(
    warnings_once: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks, "_RUNNER_METHODS", {"operation": ("self", "renamed")})
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        plain = GatewaySchema(query=Query, fast_path=False)

    assert not plain.lean_hooks
    assert caplog.records == []


# Input converters.


def _hooks_of(*types: type) -> list[object]:
    return [get_object_definition(kind, strict=True).from_input for kind in types]


@pytest.fixture
def own_inputs() -> Iterator[None]:
    """Window and Search with Strawberry's conversion before and after the test."""
    assert _hooks_of(Window, Search) == [None, None]
    yield
    for kind in (Window, Search):
        get_object_definition(kind, strict=True).from_input = None


QUERY = '{ search(search: {window: {tags: ["a"]}, names: ["x", "y"]}) }'


async def test_a_failed_inputs_check_installs_nothing_with_one_warning(
    warnings_once: None,
    own_inputs: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = strawberry.Schema(query=Query)
    monkeypatch.setattr(inputs, "_CONTEXT_ATTRIBUTES", ("config", "renamed"))
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        installed = [inputs.install([Window, Search]) for _ in range(2)]

    assert installed == [False, False]
    assert _hooks_of(Window, Search) == [None, None]
    (record,) = caplog.records
    assert record.getMessage().startswith("Input converters (resolvers/engine/inputs.py) is off")
    assert "InputContext.renamed is not declared" in record.getMessage()
    strawberrys = await schema.execute(QUERY)

    monkeypatch.setattr(inputs, "_CONTEXT_ATTRIBUTES", ("config", "scalar_registry"))
    assert inputs.install([Window, Search])
    assert None not in _hooks_of(Window, Search)
    compiled = await schema.execute(QUERY)
    assert strawberrys.errors is None
    assert compiled.data == strawberrys.data
    assert "names=['x', 'y']" in strawberrys.data["search"]  # type: ignore[index]


def test_inputs_are_not_compiled_with_the_fast_path_off_nor_checked(
    warnings_once: None,
    own_inputs: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inputs, "_CONTEXT_ATTRIBUTES", ("renamed",))
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        assert not inputs.install([Window, Search], fast_path=False)

    assert _hooks_of(Window, Search) == [None, None]
    assert caplog.records == []


# The lean POST path.


PROVIDERS = "query P { providers { provider } }"
FAST = {"GATEWAY_FAST_PATH": "true"}  # whatever this run's mode


def _answers(live: LiveStack) -> list[dict[str, object]]:
    """The same known document asked twice (the lean path answers the second, where it is on)."""
    return [post(live.url, PROVIDERS) for _ in range(2)]


def test_a_failed_lean_path_check_warns_once_and_uses_the_view(
    warnings_once: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LiveStack(env=FAST) as live:
        assert _view(live).lean
        expected = _answers(live)
    monkeypatch.setattr(lean, "_REQUEST_FIELDS", ("query", "renamed"))
    with (
        caplog.at_level(logging.WARNING, logger="session_gateway"),
        LiveStack(env=FAST) as first,
        LiveStack(env=FAST) as second,
    ):
        views = [_view(first), _view(second)]
        answers = _answers(first)

    assert [view.lean for view in views] == [False, False]
    warned = [r for r in caplog.records if "lean POST path" in r.getMessage()]
    assert len(warned) == 1
    assert "every request takes Strawberry's view" in warned[0].getMessage()
    assert answers == expected
    assert answers[0] == answers[1]


def _view(live: LiveStack) -> GatewayGraphQL:
    assert live.app is not None
    return next(
        r.app for r in live.app.routes if isinstance(r, Route) and isinstance(r.app, GatewayGraphQL)
    )


# uvicorn's protocols: limits, not a shortcut.


def test_uvicorn_without_the_hooks_stops_start_up_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serving, "_HOOKS", (*serving._HOOKS, "gone"))
    for fast_path in ("true", "false"):
        settings = Settings.from_environ({"GATEWAY_FAST_PATH": fast_path})
        with pytest.raises(RuntimeError, match=r"HttpToolsProtocol\.gone is missing"):
            server_options(settings)


# GATEWAY_FAST_PATH=false, in a process of its own: nothing installed, nothing checked.

_PROBE = """
import json
from starlette.routing import Route
from app.http.view import GatewayGraphQL
from app.main import create_app
from app.settings import Settings
from resolvers.engine import internals
from resolvers.types.filters import COMPILED_INPUTS
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.base import get_object_definition

app = create_app(Settings.from_environ())
view = next(r.app for r in app.routes if isinstance(r, Route) and isinstance(r.app, GatewayGraphQL))
print(json.dumps({
    "inputs": [get_object_definition(k).from_input is None for k in COMPILED_INPUTS],
    "executor": view.schema.execution_context_class is StrawberryGraphQLCoreExecutionContext,
    "hooks": view.schema.lean_hooks,
    "lean": view.lean,
    "warned": sorted(internals._warned),
}))
"""


@pytest.mark.parametrize("fast_path", ["false", "true"])
def test_the_fast_path_off_installs_nothing(fast_path: str) -> None:
    env = {
        **os.environ,
        "GATEWAY_FAST_PATH": fast_path,
        "GATEWAY_ALLOW_ANONYMOUS": "true",
        "GATEWAY_CURSOR_SECRET": "seams",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=ROOT, capture_output=True, check=True
    )
    found = json.loads(done.stdout)

    off = fast_path == "false"
    assert found["inputs"] == [off] * len(found["inputs"])
    assert found["executor"] is off
    assert found["hooks"] is not off
    assert found["lean"] is not off
    assert found["warned"] == []
