"""Configuration: malformed values stop start-up with a message naming the variable."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.settings import Settings


def test_unset_provider_urls_disable_providers() -> None:
    settings = Settings.from_environ({})
    assert settings.privx_url is None
    assert settings.hyperid_url is None


def test_origin_is_normalised_and_pool_ids_split() -> None:
    settings = Settings.from_environ(
        {
            "GATEWAY_PREFACTOR_URL": "https://api.prefactor.example/",
            "GATEWAY_PREFACTOR_TOKEN": "k",
            "GATEWAY_PREFACTOR_POOL_IDS": " 013xrzp12g3nqk8nf5kznwj47tan9zt2 ,abc",
        }
    )
    assert settings.prefactor_url == "https://api.prefactor.example"
    assert settings.prefactor_pool_ids == ("013xrzp12g3nqk8nf5kznwj47tan9zt2", "abc")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"GATEWAY_PRIVX_URL": "privx.example.com"},
            "GATEWAY_PRIVX_URL: must be an http(s) origin",
        ),
        (
            {"GATEWAY_ZITADEL_URL": "https://z.example.com/v2", "GATEWAY_ZITADEL_TOKEN": "t"},
            "GATEWAY_ZITADEL_URL: must be an origin only",
        ),
        (
            {"GATEWAY_HYPERID_URL": "https://1.hyper.id"},
            "GATEWAY_HYPERID_COOKIE or GATEWAY_HYPERID_FORWARD_HEADER is required",
        ),
        (
            {"GATEWAY_PREFACTOR_URL": "https://p.example", "GATEWAY_PREFACTOR_TOKEN": "t"},
            "GATEWAY_PREFACTOR_POOL_IDS is required",
        ),
        ({"GATEWAY_UPSTREAM_TIMEOUT": "soon"}, "GATEWAY_UPSTREAM_TIMEOUT:"),
    ],
)
def test_malformed_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(environ)
    assert message in str(caught.value)


def test_errors_never_echo_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(
            {
                "GATEWAY_PRIVX_URL": "https://user:hunter2@privx.example.com",
                "GATEWAY_PRIVX_TOKEN": "s3cret",
            }
        )
    assert "hunter2" not in str(caught.value)
    assert "s3cret" not in str(caught.value)
