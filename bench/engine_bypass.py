"""bench/run's `gateway-bypass`: the gateway with the GraphQL engine taken out of the per-user
query, to measure over HTTP what a compiled path for known documents would buy.

An experiment, not the product. It runs `session-gateway` (app/cli.py) with one change: once a
per-user document of bench/workloads.py (`USER_QUERY`, `first` 20 or 50) has passed validation,
`GatewaySchema.execute` answers it with bench/direct.py instead of Strawberry and graphql-core.
Everything else is the gateway's own: uvicorn, the middleware, admission, the lean path and its
JSON. The answers are the engine's, byte for byte, for the bench's requests (bench/direct.py
says which; the operation name and the allowed operation types are not looked at either). Its
log (stderr) says when it first answers by hand, and every 1000 answers after, so a run shows
it ran (uvicorn re-raises the stopping signal: nothing runs at exit).
Measured in turns with the others:

    bench/run --workload user-20 --only floor gateway gateway-bypass peer
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strawberry.types import ExecutionResult

from app.cli import main
from bench import direct
from bench.queries import _compact
from bench.workloads import USER_QUERY
from resolvers.engine.gateway_schema import GatewaySchema

_KNOWN = {
    known.text: known for known in (direct.Known(_compact(USER_QUERY % n), n) for n in (20, 50))
}


def install() -> None:
    """Have `GatewaySchema.execute` answer the known per-user documents by hand."""
    engine = GatewaySchema.execute
    answered = 0

    async def execute(
        self: GatewaySchema,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> ExecutionResult:
        known = _KNOWN.get(query or "")
        store = self.documents
        if known is not None and store is not None:
            entry = store.entries.get(known.text)
            if entry is not None and entry.errors == []:  # validated before: a known document
                data = await direct.answer(
                    self._schema, store.prices, known, context_value, variable_values
                )
                if data is not None:
                    nonlocal answered
                    answered += 1
                    if answered % 1000 == 1:
                        print(f"engine_bypass: {answered} answered by hand", file=sys.stderr)
                    return ExecutionResult(data=data, errors=None)
        return await engine(self, query, variable_values, context_value, *args, **kwargs)

    GatewaySchema.execute = execute  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    sys.exit(main())
