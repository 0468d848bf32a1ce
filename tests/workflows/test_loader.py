"""Template validation as `fishwatch workflows validate` reports it, and loading a folder."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.actions import ActionRegistry, default_actions
from tests.workflows.conftest import write_template
from workflows.loader import SHIPPED_TEMPLATES_DIR, load_file, load_folder

BROKEN = """
name: broken
version: 1
input_schema:
  type: object
  properties:
    size: {type: wrong}
steps:
  - id: first
    kind: teleport
  - id: second
    kind: action
    action: core.create_farmz
  - id: third
    kind: action
    action: core.create_enclosure
    depends_on: [ghost]
    inputs: {farm_id: x, name: y, kind: tank, colour: blue}
  - id: loop_a
    kind: action
    action: test.echo
    depends_on: [loop_b]
  - id: loop_b
    kind: action
    action: test.echo
    depends_on: [loop_a]
  - id: bad_expression
    kind: action
    action: test.echo
    inputs: {value: "${input.[}"}
  - id: reads_unlisted
    kind: action
    action: test.echo
    inputs: {value: "${steps.third.output.id}"}
  - id: wait
    kind: wait_event
    event_type: not.a.fishwatch.type
  - id: pick
    kind: condition
    when: "input.x == `1`"
    then: [third]
"""


def _issues(path: Path, actions: ActionRegistry) -> list[str]:
    template, issues = load_file(path, actions)
    assert template is None
    return [str(issue) for issue in issues]


def test_validate_reports_every_error(tmp_path: Path) -> None:
    path = write_template(tmp_path, "broken", BROKEN)
    registry = default_actions()
    from tests.workflows.conftest import ActionLog, build_actions

    for action in build_actions(ActionLog()).names():
        registry.register(build_actions(ActionLog()).get(action))
    issues = _issues(path, registry)
    prefix = str(path)
    expected = [
        f"{prefix}: field 'input_schema': not a valid JSON Schema (draft 2020-12) at 'properties/size/type'",
        f"{prefix}: step 'first': field 'kind': unknown kind 'teleport'; expected one of action, publish,",
        f"{prefix}: step 'second': field 'action': unknown action 'core.create_farmz'; known actions:",
        f"{prefix}: step 'third': field 'inputs.colour': action core.create_enclosure has no argument 'colour'",
        f"{prefix}: step 'third': field 'inputs.volume_m3': action core.create_enclosure needs argument 'volume_m3'",
        f"{prefix}: step 'third': field 'depends_on': depends on unknown step 'ghost'",
        f"{prefix}: step 'loop_a': field 'depends_on': dependency cycle: loop_a -> loop_b -> loop_a",
        f"{prefix}: step 'bad_expression': field 'inputs.value': invalid JMESPath",
        f"{prefix}: step 'reads_unlisted': field 'depends_on': reads steps.third but does not depend on it",
        f"{prefix}: step 'wait': field 'event_type': event type 'not.a.fishwatch.type' is invalid",
        f"{prefix}: step 'wait': field 'timeout_s': a wait_event step needs timeout_s",
        f"{prefix}: step 'pick': field 'then': step 'third' must depend on 'pick'",
    ]
    for line in expected:
        assert any(issue.startswith(line) for issue in issues), f"missing: {line}\ngot:\n" + "\n".join(issues)


def test_validate_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsteps: [\n", encoding="utf-8")
    issues = _issues(path, default_actions())
    assert len(issues) == 1
    assert issues[0].startswith(f"{path}: invalid YAML at line 3")


def test_shipped_templates_are_valid() -> None:
    catalog = load_folder(SHIPPED_TEMPLATES_DIR, default_actions())
    assert catalog.issues == []
    assert sorted(catalog.templates) == ["critical-alert-response", "farm-onboarding", "retrain-harvest-forecast"]


def test_folder_skips_bad_file(tmp_path: Path, actions: ActionRegistry, caplog: pytest.LogCaptureFixture) -> None:
    write_template(tmp_path, "good", "name: good\nversion: 1\nsteps:\n  - {id: a, kind: sleep, duration_s: 1}\n")
    bad = write_template(tmp_path, "bad", "name: bad\nversion: 1\nsteps:\n  - {id: a, kind: sleep}\n")
    with caplog.at_level(logging.ERROR, logger="workflows.loader"):
        catalog = load_folder(tmp_path, actions)
    assert sorted(catalog.templates) == ["good"]
    assert f"workflow template skipped: {bad}: step 'a': field 'duration_s': a sleep step needs duration_s" in (
        caplog.text
    )


def _fishwatch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    bad = write_template(tmp_path, "bad", "name: bad\nversion: 0\nsteps: []\n")
    failed = _fishwatch("workflows", "validate", str(bad))
    passed = _fishwatch("workflows", "validate", str(SHIPPED_TEMPLATES_DIR))
    assert failed.returncode == 1
    assert f"{bad}: field 'version': version 0 is invalid; use a positive integer" in failed.stdout
    assert f"{bad}: field 'steps': a template needs at least one step" in failed.stdout
    assert passed.returncode == 0
    assert "retrain-harvest-forecast v1, 13 steps" in passed.stdout


def test_cli_graph_prints_mermaid() -> None:
    shown = _fishwatch("workflows", "graph", "critical-alert-response")
    missing = _fishwatch("workflows", "graph", "nope")
    assert shown.returncode == 0
    assert shown.stdout.startswith("flowchart TD\n")
    assert '  check{"check: condition"}' in shown.stdout
    assert "  check -- else --> escalate" in shown.stdout
    assert "  notify --> wait_ack" in shown.stdout
    assert missing.returncode == 1
    assert "workflow template 'nope' not found" in missing.stderr


def test_self_triggering_template_rejected(tmp_path: Path, actions: ActionRegistry) -> None:
    path = write_template(tmp_path, "loop", """
        name: loop
        version: 1
        triggers:
          events:
            - type: com.fishwatch.workflow.ping.sent
        steps:
          - id: again
            kind: publish
            event_type: com.fishwatch.workflow.ping.sent
    """)
    assert _issues(path, actions) == [
        f"{path}: step 'again': field 'event_type': publishes com.fishwatch.workflow.ping.sent, which starts this "
        "template, so every run would start another one; publish a different type"
    ]
