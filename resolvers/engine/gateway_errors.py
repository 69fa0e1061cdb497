"""GatewayErrors: adds partial (per-upstream) errors to the response and masks the unexpected."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.core.echo import clip_echoes
from app.core.errors import GatewayError

log = logging.getLogger("session_gateway.errors")

MASKED_MESSAGE = "Unexpected error."
MAX_VALIDATION_ERRORS = 100  # graphql-core's validate() stops after this many
TOO_MANY = f"More than {MAX_VALIDATION_ERRORS} validation errors; fix the first ones and retry."
# validate() ends with this bare message when it gives up; the client gets the reason. (Its
# other "Validation aborted." causes are refused before validation: resolvers/engine/caching.py.)
_ABORTED = {"Too many validation errors, error limit reached. Validation aborted.": TOO_MANY}


def _with_request_id(error: GraphQLError, request_id: str) -> GraphQLError:
    """Every error names the request, so a client report can be matched to the log line."""
    if not request_id or (error.extensions or {}).get("requestId") == request_id:
        return error
    # A copy: validation errors are cached and shared by every request of the same text.
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "requestId": request_id},
    )


class GatewayErrors(SchemaExtension):
    """Runs once per operation, after execution."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        context = self.execution_context.context
        errors = list(getattr(result, "errors", None) or [])
        errors += getattr(context, "partial_errors", [])
        if errors:
            request_id = str(getattr(context, "request_id", ""))
            result.errors = [
                _with_request_id(self._finish(e, request_id), request_id) for e in errors
            ]

    def _finish(self, error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if original is None:
            if error.extensions:
                return error
            # Parse and validation errors: meant for the client, with long values clipped.
            parse = error.message.startswith("Syntax Error")
            code = "GRAPHQL_PARSE_FAILED" if parse else "GRAPHQL_VALIDATION_FAILED"
            message = _ABORTED.get(error.message) or clip_echoes(error.message)
            return _recoded(error, message, {"code": code})
        if isinstance(original, GatewayError):
            return error
        if isinstance(original, GraphQLError):
            # e.g. a variable that does not coerce to its type: the client's input.
            return _recoded(error, clip_echoes(error.message), {"code": "BAD_USER_INPUT"})
        # Anything else is a bug: the client gets a request id, the log gets the details.
        log.error(
            "unexpected error in request %s at %s",
            request_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        return _recoded(error, MASKED_MESSAGE, {"code": "INTERNAL", "requestId": request_id})


def _recoded(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    """The same error at the same place, with `message` and `extensions` (no original)."""
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
