"""docs/security.md names every setting that bounds what a client can make the gateway do."""

from __future__ import annotations

import re

from app.settings import Settings
from tests.support.paths import ROOT

SECURITY = ROOT / "docs" / "security.md"

# A setting is a limit by its name: a maximum, a timeout, a window's allowance, or a bound of
# the queues and stores a client fills.
_LIMIT = re.compile(
    r"^(max_|apq_|admission_|subscription_|websocket_|poll_max)|_timeout$"
    r"|^(rate_limit|cost_budget|upstream_concurrency|upstream_retries|reauth_interval)$"
)


def limit_settings() -> list[str]:
    """The environment variables of every limit setting."""
    return [f"GATEWAY_{name.upper()}" for name in Settings.model_fields if _LIMIT.search(name)]


def test_every_limit_setting_is_in_the_table_of_limits() -> None:
    text = SECURITY.read_text()
    table = text[text.index("## Every limit") : text.index("## Callers")]
    missing = [name for name in limit_settings() if f"`{name}`" not in table]
    assert not missing, f"docs/security.md, 'Every limit', lacks {missing}"


def test_the_limit_settings_are_found_by_name() -> None:
    # The pattern must keep finding the bounds named by the table; an empty match would make
    # the test above pass for nothing.
    found = limit_settings()
    assert {"GATEWAY_MAX_CONNECTIONS", "GATEWAY_APQ_REGISTRATIONS", "GATEWAY_RATE_LIMIT"} <= set(
        found
    )
    assert len(found) >= 30
