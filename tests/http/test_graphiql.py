"""The GraphiQL page and its asset routes, without a browser (tests/e2e/test_browser.py has one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.http.graphiql import (
    ASSETS,
    CACHE_CONTROL,
    DEFAULT_EXAMPLES,
    EXAMPLES,
    graphiql_html,
    read_examples,
)
from tests.support.live import LiveStack, get


def test_readme_examples_become_tabs_with_their_prose() -> None:
    names = [query.split()[1] for _, query in EXAMPLES]
    assert names[0] == "NewestSessions"
    assert len(names) >= 5
    assert EXAMPLES[0][0] == "The newest sessions, whoever and wherever they are"


def test_examples_fall_back_to_a_built_in_query(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# No queries here\n\n```sh\nls\n```\n")

    assert read_examples(tmp_path / "README.md") == DEFAULT_EXAMPLES
    assert read_examples(tmp_path / "missing.md") == DEFAULT_EXAMPLES


def test_page_names_no_outside_address_and_cannot_be_closed_by_a_query() -> None:
    page = graphiql_html([("Sneaky", "query A { __typename } # </script><script>alert(1)")])

    assert re.findall(r"https?://", page) == []
    assert page.count("</script>") == len([n for n in ASSETS if n.endswith(".js")]) + 1
    assert "graphiql/graphiql.min.js?v=" in page


def test_page_says_how_to_install_missing_assets(tmp_path: Path) -> None:
    page = graphiql_html(EXAMPLES, node_modules=tmp_path)

    assert "scripts/setup-graphiql" in page
    assert "<code>graphiql/graphiql.min.js</code>" in page
    assert str(tmp_path) not in page
    assert "<script" not in page


def test_gateway_serves_the_page_to_a_browser(live: LiveStack) -> None:
    status, headers, body = get(live.url, accept="text/html")

    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"NewestSessions" in body


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_are_served_with_long_caching(live: LiveStack, name: str) -> None:
    status, headers, body = get(live.url.replace("/graphql", f"/graphiql/{name}"))

    assert status == 200
    assert headers["cache-control"] == CACHE_CONTROL
    assert headers["content-type"].startswith("text/css" if name.endswith(".css") else "text/j")
    assert body


@pytest.mark.parametrize("path", ["/graphiql/package.json", "/graphiql/..%2Fpackage.json"])
def test_only_the_listed_assets_are_served(live: LiveStack, path: str) -> None:
    status, _, _ = get(live.url.replace("/graphql", path))

    assert status == 404


def test_the_people_tabs_are_there_with_their_prose() -> None:
    tabs = {query.split()[1]: prose for prose, query in EXAMPLES}
    assert tabs["WhereAmISignedIn"].startswith("Where am I signed in")
    assert tabs["SignOutOtherSessions"].startswith("Sign out other sessions")
    assert "session-gateway demo" in tabs["WhereAmISignedIn"]
