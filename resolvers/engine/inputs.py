"""Input objects built by converters decided once (Strawberry's `from_input` hook).

Strawberry turns an argument's input value into its input classes by walking the type anew on
every request: `sessions(filter: {users: [...]})` with four users is about forty calls of
`convert_argument`, each testing again which kind of type it has (4 % of the per-user request's
CPU under load). The types do not change, so the walk can be decided once. `install`, called
when a schema is built with the fast path on, has `compile_inputs` set each given input type's
`from_input`, the hook Strawberry documents for integrations that
build their own values (StrawberryObjectDefinition.from_input, as `strawberry.pydantic` does),
to a converter compiled on first use for the schema's scalar registry and name converter: per
field, its GraphQL name, its Python name and a converter for its type. It builds what
Strawberry's own conversion builds (tests/engine/test_inputs.py compares them): the same classes,
the same defaults (None where a field has none), nulls and UNSET passed through, lists copied. A
type with a field it does not know (GlobalID, a lazy or generic type, another hook) is built
field by field by Strawberry's conversion (`InputContext.convert`), as before. Where Strawberry
does not call the hook as `INPUTS` checks (resolvers/engine/internals.py), nothing is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.arguments import InputContext, convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    get_object_definition,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.unset import UNSET

from resolvers.engine.internals import annotation_problems, seam, signature_problems

__all__ = ["INPUTS", "compile_inputs", "install"]

Convert = Callable[[Any], Any]
Registry = Mapping[object, Any]
# One input type's builder: (input value keyed by GraphQL names, context) -> instance.
Build = Callable[[Mapping[str, Any], InputContext], Any]

# By input class: the registry and config its builder was compiled for, and the builder. One
# per class: a process serving one schema compiles each once (tests with several recompile).
_BUILDERS: dict[type, tuple[Registry, StrawberryConfig, Build]] = {}
# What the converters read of Strawberry's definitions and of the context it passes the hook.
_DEFINITION_ATTRIBUTES = ("from_input", "is_input")
_CONTEXT_ATTRIBUTES = ("config", "scalar_registry")


def compile_inputs(*types: type) -> None:
    """Have Strawberry build `types` (input types without a hook of their own) by converters
    decided once."""
    for kind in types:
        definition = get_object_definition(kind, strict=True)
        if not definition.is_input or definition.from_input is not None:
            raise ValueError(f"{kind.__name__} is not an input type without a from_input hook")
        # Strawberry does not check nulls of `Maybe` fields for types with a hook.
        if any(isinstance(field.type, StrawberryMaybe) for field in definition.fields):
            raise ValueError(f"{kind.__name__} has a Maybe field: keep Strawberry's conversion")
        definition.from_input = _from_input


def install(types: Iterable[type], *, fast_path: bool = True) -> bool:
    """Compile `types` (those not compiled yet) where the fast path is on and Strawberry calls
    the hook as expected; whether they are compiled."""
    if not INPUTS.usable(fast_path=fast_path):
        return False
    for kind in types:
        if get_object_definition(kind, strict=True).from_input is not _from_input:
            compile_inputs(kind)
    return True


@strawberry.input
class _ProbeItem:
    name: str
    tags: list[str] | None = None


@strawberry.input
class _Probe:
    """An input that the check builds both ways: Strawberry's, then through the hook."""

    items: list[_ProbeItem]
    count: int = 3


def _problems() -> list[str]:
    """How Strawberry's input conversion differs from what the converters stand in for."""
    problems = annotation_problems(StrawberryObjectDefinition, _DEFINITION_ATTRIBUTES)
    problems += annotation_problems(InputContext, _CONTEXT_ATTRIBUTES)
    problems += signature_problems(InputContext, {"convert": ("self", "value", "type_", "keys")})
    if problems:
        return problems
    value = {"items": [{"name": "a", "tags": ["x"]}, {"name": "b"}]}
    config = StrawberryConfig()
    definitions = [get_object_definition(kind, strict=True) for kind in (_Probe, _ProbeItem)]
    own = convert_argument(value, _Probe, DEFAULT_SCALAR_REGISTRY, config)
    _BUILDERS.pop(_Probe, None)
    try:
        for definition in definitions:
            definition.from_input = _from_input
        compiled = convert_argument(value, _Probe, DEFAULT_SCALAR_REGISTRY, config)
    finally:
        for definition in definitions:
            definition.from_input = None
    _BUILDERS.pop(_ProbeItem, None)
    if _BUILDERS.pop(_Probe, None) is None:
        problems.append("convert_argument does not call StrawberryObjectDefinition.from_input")
    elif type(compiled) is not _Probe or compiled != own:
        problems.append(f"the converters build {compiled!r} where Strawberry builds {own!r}")
    return problems


INPUTS = seam(
    "Input converters (resolvers/engine/inputs.py)",
    "inputs take Strawberry's conversion",
    _problems,
)


def _from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    kept = _BUILDERS.get(cls)
    if kept is None or kept[0] is not context.scalar_registry or kept[1] is not context.config:
        definition = get_object_definition(cls, strict=True)
        compiled = _object(cls, definition, context.scalar_registry, context.config, {})
        build: Build = (lambda v, _: compiled(v)) if compiled else _per_field(cls, definition)
        kept = _BUILDERS[cls] = (context.scalar_registry, context.config, build)
    return kept[2](value, context)


def _per_field(cls: type, definition: StrawberryObjectDefinition) -> Build:
    """Strawberry's own conversion, field by field, for a type the compiler does not know."""

    def build(value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs = _nones(definition)
        for field in definition.fields:
            name = context.config.name_converter.from_field(field)
            if name in value:
                field_type = field.resolve_type(type_definition=definition)
                kwargs[field.python_name] = context.convert(value[name], field_type, name)
        return cls(**kwargs)

    return build


def _nones(definition: StrawberryObjectDefinition) -> dict[str, Any]:
    """None for every field without a default, as Strawberry starts an input's arguments."""
    return {
        field.python_name: None
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    }


def _object(
    cls: type,
    definition: StrawberryObjectDefinition,
    registry: Registry,
    config: StrawberryConfig,
    compiling: dict[type, Convert],
) -> Convert | None:
    """A converter from an input value to `cls`, or None if a field's type is not known."""
    fields: list[tuple[str, str, Convert]] = []
    made: list[Convert] = []  # filled once compiled: a recursive type refers to itself early
    compiling[cls] = lambda value: made[0](value)
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        convert = _converter(field_type, registry, config, compiling)
        if convert is None:
            return None
        fields.append((config.name_converter.from_field(field), field.python_name, convert))
    nones = _nones(definition)
    keyed = tuple(fields)

    def build(value: Mapping[str, Any]) -> Any:
        kwargs = nones.copy()
        for name, python_name, convert in keyed:
            if name in value:
                kwargs[python_name] = convert(value[name])
        return cls(**kwargs)

    made.append(build)
    return build


def _same(value: Any) -> Any:
    return value


def _copied(value: Any) -> Any:
    # graphql-core hands every request that omits a list the same default: copy it.
    return value if value is None or value is UNSET else list(value)


def _converter(
    kind: Any, registry: Registry, config: StrawberryConfig, compiling: dict[type, Convert]
) -> Convert | None:
    """What `convert_argument` does with a value of `kind`, decided now; None if unknown."""
    if isinstance(kind, StrawberryMaybe):
        return None
    if isinstance(kind, StrawberryOptional):
        return _converter(kind.of_type, registry, config, compiling)
    if isinstance(kind, StrawberryList):
        item = kind.of_type
        leaf = item.of_type if isinstance(item, StrawberryOptional) else item
        if _leaf(leaf, registry):
            return _copied
        convert = _converter(item, registry, config, compiling)
        if convert is None:
            return None
        return lambda value: (
            value if value is None or value is UNSET else [convert(x) for x in value]
        )
    if _leaf(kind, registry) or has_enum_definition(kind):
        return _same
    if has_object_definition(kind):
        definition = kind.__strawberry_definition__
        if not definition.is_input or definition.from_input not in (None, _from_input):
            return None
        built = compiling.get(kind) or _object(kind, definition, registry, config, compiling)
        if built is None:
            return None
        return lambda value: value if value is None or value is UNSET else built(value)
    return None


def _leaf(kind: Any, registry: Registry) -> bool:
    """A scalar or enum: Strawberry passes the value graphql-core coerced as it is."""
    if kind is GlobalID:
        return False  # parsed from its string: keep Strawberry's conversion
    return is_scalar(kind, registry) or isinstance(kind, StrawberryEnumDefinition)
