"""The providers this gateway knows, in schema order: the built-in packages, then installed ones.

A provider from outside this tree is a ProviderPackage named by an entry point in the
`session_gateway.providers` group (`toy = my_package:PACKAGE`); installed ones follow the
built-in ones in entry point name order. The `Provider` enum, its schema descriptions, the
`SessionExtras` union and every per-provider setting are read from these entries; nothing
else imports a provider's package.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from app.core.records import Provider
from app.upstream.provider import ProviderPackage, SessionProvider
from app.upstream.providers import hyperid, kratos, prefactor, privx, zitadel

ENTRY_POINTS = "session_gateway.providers"


def installed() -> list[ProviderPackage]:
    """The provider packages installed outside this tree, loaded, by entry point name."""
    packages = []
    for entry in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        package = entry.load()
        if not isinstance(package, ProviderPackage):
            raise TypeError(f"entry point {entry.name} = {entry.value} is no ProviderPackage")
        packages.append(package)
    return packages


PACKAGES: tuple[ProviderPackage, ...] = (
    privx.PACKAGE,
    prefactor.PACKAGE,
    zitadel.PACKAGE,
    hyperid.PACKAGE,
    kratos.PACKAGE,
    *installed(),
)
PROVIDERS: tuple[type[SessionProvider], ...] = tuple(package.kind for package in PACKAGES)

if [kind.provider for kind in PROVIDERS] != list(Provider):
    raise RuntimeError(
        f"providers registered {[k.provider.value for k in PROVIDERS]}, but the Provider enum "
        f"has {[p.value for p in Provider]}: each needs exactly one package, in that order"
    )
