"""Mock upstream servers (PrivX, Prefactor, ZITADEL, hyper.id, Kratos) with generated data."""

from __future__ import annotations

from app.mocks.calls import CALLS, Call
from app.mocks.credentials import Credentials
from app.mocks.data import MockData, generate
from app.mocks.faults import Fault, FaultPlan
from app.mocks.servers import MockUpstreams

__all__ = [
    "CALLS",
    "Call",
    "Credentials",
    "Fault",
    "FaultPlan",
    "MockData",
    "MockUpstreams",
    "generate",
]
