"""Ory Kratos's admin session API: everything of one provider.

provider.py holds its client, parser, settings and SessionProvider; records.py the fields of its
sessions that have no common home, and extras.py their GraphQL type. PACKAGE is its registry
entry (app/upstream/registry.py).
"""

from __future__ import annotations

from app.upstream.provider import ProviderPackage
from app.upstream.providers.kratos.extras import KratosSessionExtras
from app.upstream.providers.kratos.provider import KratosProvider, parse_session
from app.upstream.providers.kratos.records import KratosExtras

PACKAGE = ProviderPackage(KratosProvider, KratosSessionExtras, KratosExtras, parse_session)

__all__ = ["PACKAGE"]
