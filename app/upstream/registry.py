"""The providers this gateway knows, in schema order: adding one is a package and a line here.

The `Provider` enum's schema descriptions, the `SessionExtras` union and every per-provider
setting are read from these entries; nothing else imports a provider's package.
"""

from __future__ import annotations

from app.core.records import Provider
from app.upstream.provider import ProviderPackage, SessionProvider
from app.upstream.providers import hyperid, kratos, prefactor, privx, zitadel

PACKAGES: tuple[ProviderPackage, ...] = (
    privx.PACKAGE,
    prefactor.PACKAGE,
    zitadel.PACKAGE,
    hyperid.PACKAGE,
    kratos.PACKAGE,
)
PROVIDERS: tuple[type[SessionProvider], ...] = tuple(package.kind for package in PACKAGES)

if [kind.provider for kind in PROVIDERS] != list(Provider):
    raise RuntimeError(
        f"providers registered {[k.provider.value for k in PROVIDERS]}, but the Provider enum "
        f"has {[p.value for p in Provider]}: each needs exactly one package, in that order"
    )
