"""GATEWAY_WEBHOOKS: a malformed entry stops start-up, naming it and never its secret."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.core.records import Provider
from app.settings import Settings
from app.webhooks.config import EVENTS, parse_endpoints

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
URL = "https://hooks.example.com/in?token=query-secret"


def entries(**changes: object) -> str:
    entry = {"url": URL, "secret": SECRET, "events": ["session.created"], **changes}
    return json.dumps([entry])


def refused(value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({"GATEWAY_WEBHOOKS": value})
    message = str(caught.value)
    assert "GATEWAY_WEBHOOKS" in message
    assert SECRET not in message
    assert "query-secret" not in message
    return message


def test_a_good_entry_is_read_with_its_defaults() -> None:
    settings = Settings.from_environ(
        {"GATEWAY_WEBHOOKS": json.dumps([{"url": URL, "secret": SECRET}])}
    )
    (endpoint,) = settings.webhook_endpoints
    assert endpoint.events == frozenset(EVENTS)
    assert endpoint.shown == "https://hooks.example.com/in"
    assert SECRET not in repr(endpoint)
    assert SECRET not in str(settings.describe())


def test_a_new_url_or_secret_is_a_new_identity_for_a_410s_record() -> None:
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    (endpoint,) = parse_endpoints(entries())
    (same,) = parse_endpoints(entries(events=["session.ended"]))
    (new_secret,) = parse_endpoints(entries(secret=other))
    (new_url,) = parse_endpoints(entries(url=URL + "&v=2"))
    assert same.identity == endpoint.identity
    assert new_secret.identity != endpoint.identity
    assert new_url.identity != endpoint.identity
    assert SECRET.removeprefix("whsec_") not in endpoint.identity


def test_a_filter_like_sessions_filter_input() -> None:
    (endpoint,) = parse_endpoints(
        entries(
            filter={
                "providers": ["KRATOS", "ZITADEL"],
                "users": [{"provider": "KRATOS", "nativeId": "u1"}],
                "remoteAddress": "203.0.113.0/24",
            }
        )
    )
    assert endpoint.session_filter.providers == frozenset({Provider.KRATOS, Provider.ZITADEL})
    assert endpoint.session_filter.users == frozenset({(Provider.KRATOS, "u1")})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (entries(url="ftp://hooks.example.com/in"), "entry 0: `url` must be an absolute http"),
        (entries(url="/relative"), "entry 0: `url` must be an absolute http"),
        (entries(events=["session.deleted"]), "unknown event 'session.deleted'"),
        (entries(events=[]), "`events` must be a non-empty list"),
        (entries(secret="not-whsec"), "`secret` must be whsec_ followed by the base64"),
        (entries(secret="whsec_%%%"), "`secret` must be whsec_ followed by the base64"),
        (entries(secret="whsec_" + base64.b64encode(b"short").decode()), "24 to 64 random bytes"),
        (entries(filter={"providers": ["NOPE"]}), "unknown provider 'NOPE'"),
        (entries(filter={"statuses": ["ACTIVE"]}), "unknown key 'statuses'"),
        (entries(colour="red"), "unknown key 'colour'"),
        ("{}", "must be a JSON list"),
        ("[1]", "entry 0: must be an object"),
    ],
)
def test_a_malformed_entry_is_refused_by_name(value: str, expected: str) -> None:
    message = refused(value)
    assert expected in message
    if "url" not in expected and "entry 0:" not in expected and value.startswith("[{"):
        assert "entry 0 (https://hooks.example.com/in)" in message


def test_the_second_bad_entry_is_named() -> None:
    good = {"url": URL, "secret": SECRET}
    bad = {"url": "https://other.example.com/x", "secret": SECRET, "events": ["nope"]}
    message = refused(json.dumps([good, bad]))
    assert "entry 1 (https://other.example.com/x): unknown event 'nope'" in message


def test_serve_stops_at_a_malformed_entry() -> None:
    env = {**os.environ, "GATEWAY_WEBHOOKS": entries(secret="whsec_bad")}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "GATEWAY_WEBHOOKS: entry 0 (https://hooks.example.com/in): `secret`" in done.stderr
    assert "whsec_bad" not in done.stderr


def test_a_config_file_lists_them_as_an_array_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[[webhooks]]\nurl = "{URL}"\nsecret = "{SECRET}"\nevents = ["session.ended"]\n'
        '[webhooks.filter]\nproviders = ["KRATOS"]\n'
    )
    (endpoint,) = Settings.from_environ({}, config_file=str(path)).webhook_endpoints
    assert endpoint.events == frozenset({"session.ended"})
    assert endpoint.session_filter.providers == frozenset({Provider.KRATOS})
