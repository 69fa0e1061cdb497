"""depth_rule(): Strawberry's query depth limit as a rule that reports each node once."""

from __future__ import annotations

from graphql import GraphQLError, SourceLocation, TypeInfo, ValidationContext, ValidationRule
from strawberry.extensions.query_depth_limiter import ShouldIgnoreType, create_validator


def depth_rule(max_depth: int, should_ignore: ShouldIgnoreType) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than `max_depth`."""
    measure = create_validator(max_depth, should_ignore)

    class DepthLimit(ValidationRule):
        """Strawberry's limiter, run aside; its distinct errors are reported on entering."""

        # Strawberry's rule works in its constructor, outside the try of graphql-core's
        # validate(): it reports a node once per spread of its fragment, and a stack overflow
        # (a long fragment chain) or the error limit escapes validate() as an exception.
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            found: dict[tuple[str, tuple[SourceLocation, ...]], GraphQLError] = {}

            def collect(error: GraphQLError) -> None:
                found.setdefault((error.message, tuple(error.locations or ())), error)

            schema = context.schema
            self._too_deep = False
            try:
                measure(ValidationContext(schema, context.document, TypeInfo(schema), collect))
            except RecursionError:
                self._too_deep = True
            self._errors = list(found.values())

        def enter_document(self, *_args: object) -> None:
            # Inside the visit, validate() turns both into its own "Validation aborted." errors.
            for error in self._errors:
                self.report_error(error)
            if self._too_deep:
                raise RecursionError

    return DepthLimit
