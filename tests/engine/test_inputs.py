"""Inputs built by compiled converters (resolvers/engine/inputs.py) are what Strawberry builds."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    get_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.unset import UNSET

from resolvers.engine.inputs import compile_inputs
from resolvers.schema import schema
from resolvers.types.filters import COMPILED_INPUTS as COMPILED
from resolvers.types.filters import DateTimeRange, SessionFilterInput
from tests.support.library_paths import strawberrys_own

REGISTRY = schema.schema_converter.scalar_registry
CONFIG = schema.config


def _values(kind: Any) -> st.SearchStrategy[Any]:
    """Input values of `kind` as graphql-core hands them to Strawberry: coerced, by GraphQL name."""
    if isinstance(kind, StrawberryOptional):
        return st.none() | _values(kind.of_type)
    if isinstance(kind, StrawberryList):
        return st.lists(_values(kind.of_type), max_size=4)
    if isinstance(kind, StrawberryEnumDefinition):
        return st.sampled_from(list(kind.wrapped_cls))
    if kind is datetime:
        return st.datetimes(timezones=st.just(UTC))
    if kind in (str, strawberry.ID):
        return st.text(max_size=5)
    if kind is int:
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    definition = get_object_definition(kind, strict=True)
    fields = {
        CONFIG.name_converter.from_field(field): _values(
            field.resolve_type(type_definition=definition)
        )
        for field in definition.fields
    }
    return st.fixed_dictionaries({}, optional=fields)


@pytest.mark.parametrize("kind", COMPILED, ids=lambda kind: kind.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_compiled_inputs_are_what_strawberry_builds(kind: type, data: st.DataObject) -> None:
    value = data.draw(_values(kind))
    built = convert_argument(value, kind, REGISTRY, CONFIG)
    with strawberrys_own(*COMPILED):
        expected = convert_argument(value, kind, REGISTRY, CONFIG)
    assert type(built) is type(expected)
    assert built == expected
    # Lists are copied: graphql-core may hand every request the same default list.
    for name, item in vars(built).items():
        if isinstance(item, list):
            assert all(item is not given for given in value.values())
            assert type(getattr(expected, name)) is list


def test_null_and_unset_pass_through_at_every_level() -> None:
    value = {"users": None, "createdAt": {"since": None}, "ids": [], "statuses": UNSET}
    built = convert_argument(value, SessionFilterInput, REGISTRY, CONFIG)
    assert isinstance(built, SessionFilterInput)
    with strawberrys_own(*COMPILED):
        expected = convert_argument(value, SessionFilterInput, REGISTRY, CONFIG)
    assert built == expected
    assert built.statuses is UNSET
    assert built.created_at == DateTimeRange(since=None)


class Colour(enum.Enum):
    RED = "RED"


@strawberry.input
class WithGlobalId:
    node: GlobalID
    colour: strawberry.enum(Colour) | None = None  # type: ignore[valid-type]


@strawberry.input
class Outer:
    inner: WithGlobalId | None = None
    count: int = 3


def test_a_field_the_compiler_does_not_know_is_converted_by_strawberry() -> None:
    compile_inputs(WithGlobalId, Outer)
    value = {"inner": {"node": "U2Vzc2lvbjox", "colour": Colour.RED}}
    built = convert_argument(value, Outer, REGISTRY, CONFIG)
    assert isinstance(built, Outer)
    assert built.inner is not None
    with strawberrys_own(WithGlobalId, Outer):
        expected = convert_argument(value, Outer, REGISTRY, CONFIG)
    assert built == expected
    assert built.inner.node == GlobalID("Session", "1")
    assert built.count == 3


def test_only_input_types_without_a_hook_are_compiled() -> None:
    @strawberry.type
    class Output:
        value: int

    with pytest.raises(ValueError, match="not an input type"):
        compile_inputs(Output)
    with pytest.raises(ValueError, match="not an input type"):
        compile_inputs(SessionFilterInput)  # already compiled

    @strawberry.input
    class WithMaybe:
        value: strawberry.Maybe[int]

    with pytest.raises(ValueError, match="Maybe"):
        compile_inputs(WithMaybe)
    definition: StrawberryObjectDefinition = get_object_definition(WithMaybe, strict=True)
    assert definition.from_input is None
