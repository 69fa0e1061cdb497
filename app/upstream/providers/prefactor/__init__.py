"""Prefactor's session API: everything of one provider.

provider.py holds its client, parser, settings and SessionProvider; records.py the fields of its
sessions that have no common home, and extras.py their GraphQL type. PACKAGE is its registry
entry (app/upstream/registry.py).
"""

from __future__ import annotations

from app.upstream.provider import ProviderPackage
from app.upstream.providers.prefactor.extras import PrefactorSessionExtras
from app.upstream.providers.prefactor.provider import PrefactorProvider, parse_session
from app.upstream.providers.prefactor.records import PrefactorExtras

PACKAGE = ProviderPackage(PrefactorProvider, PrefactorSessionExtras, PrefactorExtras, parse_session)

__all__ = ["PACKAGE"]
