"""schema.graphql is the SDL exported from the code."""

from __future__ import annotations

from pathlib import Path

from resolvers.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text() == str(schema) + "\n", (
        "schema.graphql is stale: run `session-gateway export-schema > schema.graphql`"
    )
