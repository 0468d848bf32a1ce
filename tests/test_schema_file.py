"""schema.graphql is the published contract: it must match what the code serves."""

from pathlib import Path

from gateway.app import create_schema
from gateway.settings import load_settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_matches_code():
    exported = create_schema(load_settings({})).as_str() + "\n"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == exported, "schema.graphql is stale: run `fishwatch schema --output schema.graphql`"


def test_schema_documents_every_type():
    sdl = SCHEMA_FILE.read_text(encoding="utf-8")
    lines = sdl.splitlines()
    undocumented = [
        line for index, line in enumerate(lines)
        if line.startswith(("type ", "enum ", "input ", "interface ", "union ", "scalar "))
        and (index == 0 or not lines[index - 1].endswith('"""'))
    ]
    assert undocumented == []


def test_schema_stable_across_builds():
    first = create_schema(load_settings({})).as_str()
    second = create_schema(load_settings({})).as_str()
    assert first == second
