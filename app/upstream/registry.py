"""The providers this gateway knows, in schema order: adding one is a module and a line here."""

from __future__ import annotations

from app.upstream.hyperid import HyperIdProvider
from app.upstream.kratos import KratosProvider
from app.upstream.prefactor import PrefactorProvider
from app.upstream.privx import PrivxProvider
from app.upstream.provider import SessionProvider
from app.upstream.zitadel import ZitadelProvider

PROVIDERS: tuple[type[SessionProvider], ...] = (
    PrivxProvider,
    PrefactorProvider,
    ZitadelProvider,
    HyperIdProvider,
    KratosProvider,
)
