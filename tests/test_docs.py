"""The configuration reference names every setting the gateway reads."""

from pathlib import Path

from gateway.settings import Settings

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_configuration_reference_lists_every_setting():
    text = REFERENCE.read_text(encoding="utf-8")
    undocumented = [name for name in Settings.model_fields if f"`FISHWATCH_{name.upper()}`" not in text]
    assert undocumented == []
