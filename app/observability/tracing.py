"""Optional OpenTelemetry spans, one per GraphQL request and one per upstream call.

Off by default (GATEWAY_TRACING=false). Spans go to whatever TracerProvider the process has
(e.g. set up by `opentelemetry-instrument` with an OTLP exporter). Never per field: a per-field
hook makes large responses several times slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from app.core.errors import ConfigError


class Tracing:
    """Starts spans when enabled; does nothing (and costs nothing) otherwise."""

    def __init__(self, enabled: bool = False) -> None:
        self._tracer: Any = None
        if enabled:
            try:
                from opentelemetry import trace
            except ImportError:
                raise ConfigError(
                    "GATEWAY_TRACING=true needs OpenTelemetry: pip install "
                    "'session-gateway[tracing]'"
                ) from None
            self._tracer = trace.get_tracer("session-gateway")

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def span(
        self, name: str, attributes: Mapping[str, str | int | float | bool]
    ) -> AbstractContextManager[Any]:
        """A span around the block (None when tracing is off)."""
        if self._tracer is None:
            return _NO_SPAN
        span: AbstractContextManager[Any] = self._tracer.start_as_current_span(
            name, attributes=dict(attributes)
        )
        return span


# Reusable: entering it costs nothing and gives None.
_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()
