"""load_settings: environment variables, the TOML config file, and the messages of bad values."""

from __future__ import annotations

import logging

import pytest

from common.errors import ConfigError
from gateway.settings import load_settings


def config_error(environ: dict[str, str], **overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, **overrides)
    assert caught.value.code == "CONFIG_INVALID"
    return caught.value.message


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "fishwatch.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# Defaults and environment variables


def test_defaults_without_environment():
    settings = load_settings({})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.max_body_bytes == 1_048_576
    assert settings.cors_allowed_origins == []
    assert settings.missing_subsystems() == ["core", "acquisition", "fabric", "alerting", "mlflow"]


def test_environment_values_cast():
    settings = load_settings(
        {
            "FISHWATCH_PORT": "9100",
            "FISHWATCH_REQUEST_TIMEOUT_S": "2.5",
            "FISHWATCH_GRAPHIQL_ENABLED": "false",
            "FISHWATCH_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.port == 9100
    assert settings.request_timeout_s == 2.5
    assert settings.graphiql_enabled is False
    assert settings.log_level == "DEBUG"


def test_environment_list_split_on_commas():
    settings = load_settings({"FISHWATCH_CORS_ALLOWED_ORIGINS": " https://a.example , ,https://b.example"})
    assert settings.cors_allowed_origins == ["https://a.example", "https://b.example"]


def test_environment_subsystem_url():
    settings = load_settings({"FISHWATCH_CORE_URL": "http://127.0.0.1:8101/"})
    assert settings.subsystem_url("core") == "http://127.0.0.1:8101"
    assert "core" not in settings.missing_subsystems()


def test_environment_ignores_other_prefixes():
    settings = load_settings({"PORT": "1", "FISHWATCHPORT": "2", "HOME": "/root"})
    assert settings.port == 8000


def test_overrides_win_over_environment():
    settings = load_settings({"FISHWATCH_PORT": "9100"}, port=9200)
    assert settings.port == 9200


def test_settings_frozen():
    settings = load_settings({})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1


# The config file


def test_config_file_values(tmp_path):
    path = write_config(tmp_path, 'port = 9300\nmax_page_size = 50\ncors_allowed_origins = ["https://a.example"]\n')
    settings = load_settings({"FISHWATCH_CONFIG_FILE": path})
    assert settings.port == 9300
    assert settings.max_page_size == 50
    assert settings.cors_allowed_origins == ["https://a.example"]


def test_environment_wins_over_config_file(tmp_path):
    path = write_config(tmp_path, "port = 9300\nmax_page_size = 50\n")
    settings = load_settings({"FISHWATCH_CONFIG_FILE": path, "FISHWATCH_PORT": "9400"})
    assert settings.port == 9400
    assert settings.max_page_size == 50


def test_config_file_missing(tmp_path):
    path = str(tmp_path / "absent.toml")
    message = config_error({"FISHWATCH_CONFIG_FILE": path})
    assert message == f"FISHWATCH_CONFIG_FILE '{path}' does not exist; set it to a TOML file or unset it"


def test_config_file_not_toml(tmp_path):
    path = write_config(tmp_path, "port = \n")
    message = config_error({"FISHWATCH_CONFIG_FILE": path})
    assert message.startswith(f"FISHWATCH_CONFIG_FILE '{path}' is not valid TOML: ")


def test_config_file_bad_value_named(tmp_path):
    path = write_config(tmp_path, 'max_page_size = "many"\n')
    message = config_error({"FISHWATCH_CONFIG_FILE": path})
    assert "'max_page_size' in the config file 'many' is invalid" in message
    assert "FISHWATCH_MAX_PAGE_SIZE" not in message


def test_config_file_unknown_key(tmp_path):
    path = write_config(tmp_path, "max_page_sise = 50\n")
    message = config_error({"FISHWATCH_CONFIG_FILE": path})
    assert "'max_page_sise' in the config file is not a known setting; see docs/configuration.md" in message


def test_environment_fixes_bad_file_value(tmp_path):
    path = write_config(tmp_path, "port = -1\n")
    settings = load_settings({"FISHWATCH_CONFIG_FILE": path, "FISHWATCH_PORT": "9500"})
    assert settings.port == 9500


# Messages of bad values


def test_bad_integer_names_variable():
    message = config_error({"FISHWATCH_PORT": "eighty"})
    assert message.startswith("invalid configuration:\n  ")
    assert "FISHWATCH_PORT 'eighty' is invalid: " in message


def test_out_of_range_names_bound():
    message = config_error({"FISHWATCH_PORT": "70000"})
    assert "FISHWATCH_PORT '70000' is invalid: Input should be less than or equal to 65535" in message


def test_bad_url_names_variable():
    message = config_error({"FISHWATCH_CORE_URL": "core//x"})
    assert "FISHWATCH_CORE_URL 'core//x' is invalid: " in message


def test_bad_choice_names_variable():
    message = config_error({"FISHWATCH_LOG_LEVEL": "LOUD"})
    assert "FISHWATCH_LOG_LEVEL 'LOUD' is invalid: " in message
    assert "'DEBUG'" in message


def test_every_bad_value_listed():
    message = config_error({"FISHWATCH_PORT": "x", "FISHWATCH_MAX_PAGE_SIZE": "0"})
    lines = message.splitlines()
    assert len(lines) == 3
    assert any(line.strip().startswith("FISHWATCH_PORT 'x'") for line in lines)
    assert any(line.strip().startswith("FISHWATCH_MAX_PAGE_SIZE '0'") for line in lines)


def test_backoff_cap_below_base():
    message = config_error({"FISHWATCH_UPSTREAM_BACKOFF_BASE_S": "2", "FISHWATCH_UPSTREAM_BACKOFF_MAX_S": "1"})
    assert "FISHWATCH_UPSTREAM_BACKOFF_MAX_S '1' is invalid: " in message
    assert "must be at least upstream_backoff_base_s (2.0)" in message


# Secrets


def test_auth_header_redacted_in_message(tmp_path):
    # An environment value is always a valid string, so the bad value comes from the file.
    path = write_config(tmp_path, "core_auth_header = 12345678\n")
    message = config_error({"FISHWATCH_CONFIG_FILE": path})
    assert "'core_auth_header' in the config file '<redacted>' is invalid" in message
    assert "12345678" not in message


def test_auth_header_hidden_in_repr():
    settings = load_settings({"FISHWATCH_CORE_AUTH_HEADER": "Bearer s3cret-token"})
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings.model_dump())


def test_auth_header_value_available():
    settings = load_settings({"FISHWATCH_CORE_AUTH_HEADER": "Bearer s3cret-token"})
    assert settings.subsystem_auth_header("core") == "Bearer s3cret-token"
    assert settings.subsystem_auth_header("fabric") is None


# Unknown variables


def test_unknown_variable_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.settings"):
        settings = load_settings({"FISHWATCH_MAX_PAGESIZE": "10"})
    assert settings.max_page_size == 200
    warnings = [record.getMessage() for record in caplog.records if record.name == "gateway.settings"]
    assert warnings == ["ignoring unknown setting FISHWATCH_MAX_PAGESIZE; see docs/configuration.md for the list"]


def test_unknown_variable_value_not_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.settings"):
        load_settings({"FISHWATCH_CORE_AUTH_HEDAER": "Bearer s3cret-token"})
    assert "s3cret-token" not in caplog.text


def test_config_file_variable_not_unknown(caplog, tmp_path):
    path = write_config(tmp_path, "")
    with caplog.at_level(logging.WARNING, logger="gateway.settings"):
        load_settings({"FISHWATCH_CONFIG_FILE": path})
    assert caplog.records == []
