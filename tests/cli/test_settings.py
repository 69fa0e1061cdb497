"""Configuration: malformed values stop start-up with a message naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ConfigError
from app.core.records import Provider
from app.live.hub import LiveConfig
from app.settings import Settings
from app.upstream.providers.prefactor.provider import PrefactorSettings


def test_unset_provider_urls_disable_providers() -> None:
    settings = Settings.from_environ({})
    assert settings.provider(Provider.PRIVX).url is None
    assert settings.provider(Provider.HYPERID).url is None


def test_origin_is_normalised_and_pool_ids_split() -> None:
    settings = Settings.from_environ(
        {
            "GATEWAY_PREFACTOR_URL": "https://api.prefactor.example/",
            "GATEWAY_PREFACTOR_TOKEN": "k",
            "GATEWAY_PREFACTOR_POOL_IDS": " 013xrzp12g3nqk8nf5kznwj47tan9zt2 ,abc",
        }
    )
    prefactor = settings.provider(Provider.PREFACTOR)
    assert isinstance(prefactor, PrefactorSettings)
    assert prefactor.url == "https://api.prefactor.example"
    assert prefactor.pool_ids == ("013xrzp12g3nqk8nf5kznwj47tan9zt2", "abc")


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


def test_sweep_pages_per_provider_override_the_default_for_those_providers() -> None:
    settings = Settings.from_environ(
        {
            "GATEWAY_POLL_SWEEP_PAGES": "7",
            "GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER": '{"PREFACTOR": 40}',
        }
    )
    config = LiveConfig.of(settings)
    assert config.sweep_pages_of(Provider.PREFACTOR) == 40
    assert config.sweep_pages_of(Provider.ZITADEL) == 7
    assert LiveConfig.of(Settings.from_environ({})).sweep_pages_by_provider == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"PREFACTR": 40}', "'PREFACTR' is not a provider (one of PRIVX, PREFACTOR,"),
        ('{"PREFACTOR": 0}', "PREFACTOR: pages must be 1..1000, not 0"),
        ('{"PREFACTOR": 1001}', "PREFACTOR: pages must be 1..1000, not 1001"),
        ('{"KRATOS": "many"}', "KRATOS: pages must be a whole number"),
        ('{"KRATOS": 2.5}', "KRATOS: pages must be a whole number"),
        ("PREFACTOR=40", 'must be a JSON object such as {"PREFACTOR": 40}'),
        ("[40]", 'must be a JSON object such as {"PREFACTOR": 40}'),
    ],
)
def test_a_bad_sweep_pages_entry_stops_start_up_naming_it(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({"GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER": value})
    assert f"GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER: {message}" in str(caught.value)


def test_a_sweep_the_call_budget_cannot_hold_stops_start_up() -> None:
    environ = {"GATEWAY_POLL_SWEEP_PAGES_BY_PROVIDER": '{"PREFACTOR": 95}'}
    with pytest.raises(ConfigError, match=r"PREFACTOR: 95 pages .* exceed GATEWAY_MAX_UPSTREAM"):
        Settings.from_environ(environ)
    raised = Settings.from_environ({**environ, "GATEWAY_MAX_UPSTREAM_CALLS": "105"})
    assert raised.poll_sweep_pages_by_provider == {Provider.PREFACTOR: 95}


def test_a_misspelt_variable_stops_start_up_naming_the_closest_one() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({"GATEWAY_PRIVX_ULR": "https://privx.example.com"})

    assert str(caught.value) == (
        "Invalid configuration:\n  GATEWAY_PRIVX_ULR: not a setting of this gateway; "
        "did you mean GATEWAY_PRIVX_URL?"
    )


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


def test_config_file_with_environment_overriding_it(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'zitadel_url = "https://zitadel.example.com"\n'
        'zitadel_token = "from-file"\n'
        "request_timeout = 3\n"
        'prefactor_pool_ids = ["abc", "def"]\n'
    )
    settings = Settings.from_environ(
        {"GATEWAY_CONFIG_FILE": str(config), "GATEWAY_REQUEST_TIMEOUT": "7"}
    )
    assert settings.provider(Provider.ZITADEL).url == "https://zitadel.example.com"
    assert settings.request_timeout == 7.0  # the environment wins
    prefactor = settings.provider(Provider.PREFACTOR)
    assert isinstance(prefactor, PrefactorSettings)
    assert prefactor.pool_ids == ("abc", "def")
    rows = {name: (value, origin) for name, value, origin in settings.describe()}
    assert rows["GATEWAY_ZITADEL_TOKEN"] == ("********", f"zitadel_token in {config}")
    assert rows["GATEWAY_REQUEST_TIMEOUT"] == ("7.0", "GATEWAY_REQUEST_TIMEOUT")


def test_config_file_errors_name_the_key_where_it_was_set(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('privx_url = "not a url"\n')
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({}, config_file=str(config))
    assert f"privx_url in {config}: must be an http(s) origin" in str(caught.value)

    config.write_text('privx_urll = "https://x.example"\n')
    with pytest.raises(ConfigError, match="not a setting of this gateway; did you mean privx_url"):
        Settings.from_environ({}, config_file=str(config))


def test_check_config_prints_the_effective_config_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'hyperid_url = "https://1.hyper.id"\nhyperid_cookie = "ss-id=very-secret"\n'
        'api_keys = [{name = "ops", key = "api-secret-123", scopes = ["sessions:read:all"]}]\n'
    )
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)

    assert main(["check-config", "--config", str(config)]) == 0

    out = capsys.readouterr().out
    assert "GATEWAY_HYPERID_URL" in out
    assert "https://1.hyper.id" in out
    assert "very-secret" not in out
    assert "api-secret-123" not in out


def _service_links(name: str, address: str, ports: dict[str, tuple[int, str]]) -> dict[str, str]:
    """What Kubernetes injects into every pod of the namespace for Service `name`."""
    prefix = name.upper().replace("-", "_")
    host = f"[{address}]" if ":" in address else address
    first_port, first_proto = next(iter(ports.values()))
    links = {
        f"{prefix}_SERVICE_HOST": address,
        f"{prefix}_SERVICE_PORT": str(first_port),
        f"{prefix}_PORT": f"{first_proto.lower()}://{host}:{first_port}",
    }
    for port_name, (port, proto) in ports.items():
        links[f"{prefix}_SERVICE_PORT_{port_name.upper().replace('-', '_')}"] = str(port)
        base = f"{prefix}_PORT_{port}_{proto}"
        links[base] = f"{proto.lower()}://{host}:{port}"
        links[f"{base}_PROTO"] = proto.lower()
        links[f"{base}_PORT"] = str(port)
        links[f"{base}_ADDR"] = address
    return links


KUBERNETES = {
    **_service_links("gateway", "10.96.12.7", {"http": (8000, "TCP"), "stats": (9125, "UDP")}),
    **_service_links("gateway-privx", "fd00:10:96::1f", {"https-api": (443, "TCP")}),
    **_service_links("gateway-2", "10.96.0.9", {"sctp": (3868, "SCTP")}),
}


def test_service_links_of_a_service_named_gateway_are_not_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"GATEWAY_PORT", "GATEWAY_PRIVX_SERVICE_HOST", "GATEWAY_PORT_8000_TCP_ADDR"} <= set(
        KUBERNETES
    )
    settings = Settings.from_environ({**KUBERNETES, "GATEWAY_MAX_DEPTH": "9"})
    assert settings.max_depth == 9

    # As `serve` and `check-config` read them: from the process environment.
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    for name, value in {**KUBERNETES, "GATEWAY_ALLOW_ANONYMOUS": "true"}.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    assert "GATEWAY_PORT" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value", "suggestion"),
    [
        ("GATEWAY_PRIVX_ULR", "https://privx.example.com", "GATEWAY_PRIVX_URL"),
        # Named like a service link, but not a value Kubernetes would give it.
        ("GATEWAY_PRIVX_PORT", "8080", None),
        ("GATEWAY_SERVICE_HOST", "gateway.internal", None),
        ("GATEWAY_PORT_8000_TCP_PORT", "9000", None),
        ("GATEWAY_PORT_8000_TCP", "udp://10.96.12.7:8000", None),
    ],
)
def test_misspelt_variables_are_refused_beside_kubernetes_service_links(
    name: str, value: str, suggestion: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({**KUBERNETES, name: value})

    [line] = str(caught.value).splitlines()[1:]
    assert line.strip().startswith(f"{name}: not a setting of this gateway")
    if suggestion is not None:
        assert line.endswith(f"did you mean {suggestion}?")
