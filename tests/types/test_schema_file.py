"""schema.graphql is the SDL exported from the code."""

from __future__ import annotations

import pytest

from resolvers.schema import schema
from tests.support.paths import ROOT

SCHEMA_FILE = ROOT / "schema.graphql"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text() == str(schema) + "\n", (
        "schema.graphql is stale: run `session-gateway export-schema > schema.graphql`"
    )


SUBGRAPH_FILE = SCHEMA_FILE.with_name("schema.subgraph.graphql")


def test_subgraph_schema_file_is_up_to_date() -> None:
    from resolvers.schema import Limits, build_schema

    subgraph = build_schema(Limits(federation=True))
    assert SUBGRAPH_FILE.read_text() == str(subgraph) + "\n", (
        "schema.subgraph.graphql is stale: run "
        "`session-gateway export-schema --federation > schema.subgraph.graphql`"
    )


def test_the_plain_schema_has_no_federation_parts() -> None:
    text = str(schema)
    assert "@key" not in text
    assert "_entities" not in text
    assert "_Any" not in text


def test_export_schema_federation_prints_the_subgraph_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli import main

    assert main(["export-schema", "--federation"]) == 0
    assert capsys.readouterr().out == SUBGRAPH_FILE.read_text()
