"""docs/configuration.md names every setting: the gateway's own and every provider's."""

from __future__ import annotations

from app.settings import Settings
from app.upstream.registry import PROVIDERS
from tests.support.paths import ROOT

CONFIGURATION = ROOT / "docs" / "configuration.md"


def every_setting() -> list[str]:
    """The environment variable of every setting, read from the code."""
    names = [f"GATEWAY_{name.upper()}" for name in Settings.model_fields]
    for kind in PROVIDERS:
        if not kind.__module__.startswith("app."):
            continue  # a provider a test registered for itself
        prefix = f"GATEWAY_{kind.provider.value}_"
        names += [prefix + field.upper() for field in kind.settings_class.model_fields]
    return [*names, "GATEWAY_CONFIG_FILE"]


def test_every_setting_is_in_the_configuration_page() -> None:
    text = CONFIGURATION.read_text()
    missing = [name for name in every_setting() if f"| `{name}` |" not in text]
    assert not missing, f"docs/configuration.md has no row for {missing}"


def test_the_settings_are_found_in_the_code() -> None:
    # An empty list would make the test above pass for nothing.
    found = every_setting()
    assert {"GATEWAY_MAX_CONNECTIONS", "GATEWAY_PRIVX_URL", "GATEWAY_KRATOS_LOGIN_TRAIT"} <= set(
        found
    )
    assert len(found) >= 80
