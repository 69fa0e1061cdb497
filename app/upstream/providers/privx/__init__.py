"""SSH PrivX's REST API: everything of one provider.

provider.py holds its client, parser, settings and SessionProvider; records.py the fields of its
sessions that have no common home, and extras.py their GraphQL type. PACKAGE is its registry
entry (app/upstream/registry.py).
"""

from __future__ import annotations

from app.upstream.provider import ProviderPackage
from app.upstream.providers.privx.extras import PrivxSessionExtras
from app.upstream.providers.privx.provider import PrivxProvider, parse_session
from app.upstream.providers.privx.records import PrivxExtras

PACKAGE = ProviderPackage(PrivxProvider, PrivxSessionExtras, PrivxExtras, parse_session)

__all__ = ["PACKAGE"]
