"""Gateway settings: one typed object built at start-up and passed down.

Values come from `FISHWATCH_*` environment variables and, when `FISHWATCH_CONFIG_FILE` names one,
a TOML file whose keys are the field names below (environment variables win). Every bound has a
unit in its name and a default. `load_settings` turns pydantic's errors into messages that name
the variable, the bad value and what is expected.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from common.errors import ConfigError
from gateway.auth.config import CallerKind, IssuerSettings

ENV_PREFIX = "FISHWATCH_"
logger = logging.getLogger(__name__)

SUBSYSTEMS = ("core", "acquisition", "fabric", "alerting", "mlflow")


class Settings(BaseModel):
    """Every setting of the gateway, with its unit and default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Serving
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    shutdown_timeout_s: float = Field(10.0, gt=0)
    # Full garbage collections on heap growth and a timer, for replicas with many WebSockets.
    # An interval of 0 keeps CPython's own policy (gateway/gc_policy.py).
    gc_full_collection_interval_s: float = Field(0.0, ge=0, le=86_400, allow_inf_nan=False)
    gc_full_collection_growth_percent: float = Field(25.0, gt=0, le=1000, allow_inf_nan=False)

    # Subsystems. A subsystem without a URL is served by the embedded sandbox.
    core_url: AnyHttpUrl | None = None
    acquisition_url: AnyHttpUrl | None = None
    fabric_url: AnyHttpUrl | None = None
    alerting_url: AnyHttpUrl | None = None
    mlflow_url: AnyHttpUrl | None = None
    mlflow_serving_url: AnyHttpUrl | None = None
    # Full Authorization header value sent to each subsystem, for example "Bearer abc".
    core_auth_header: SecretStr | None = None
    acquisition_auth_header: SecretStr | None = None
    fabric_auth_header: SecretStr | None = None
    alerting_auth_header: SecretStr | None = None
    mlflow_auth_header: SecretStr | None = None
    sandbox_host: str = "127.0.0.1"
    sandbox_base_port: int = Field(0, ge=0, le=65530)
    sandbox_seed: int = 7

    # Upstream calls
    upstream_connect_timeout_s: float = Field(1.0, gt=0)
    upstream_timeout_s: float = Field(5.0, gt=0)
    upstream_max_attempts: int = Field(3, ge=1, le=10)
    upstream_backoff_base_s: float = Field(0.05, ge=0)
    upstream_backoff_max_s: float = Field(1.0, ge=0)
    upstream_pool_size: int = Field(100, ge=1)
    upstream_max_response_bytes: int = Field(33_554_432, ge=1024)
    upstream_page_size: int = Field(500, ge=1, le=1000)
    upstream_max_items: int = Field(20000, ge=1)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_s: float = Field(10.0, gt=0)

    # GraphQL requests
    request_timeout_s: float = Field(10.0, gt=0)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_query_depth: int = Field(12, ge=1)
    max_query_tokens: int = Field(5000, ge=10)
    max_query_aliases: int = Field(50, ge=1)
    max_page_size: int = Field(200, ge=1)
    max_reading_buckets: int = Field(5000, ge=1)
    document_cache_size: int = Field(1024, ge=0)
    graphiql_enabled: bool = True
    cors_allowed_origins: list[str] = Field(default_factory=list)
    # Cost of one operation: the number of objects it may return, counting `first` items per
    # paginated field and max_query_list_size items per other list (see gateway/auth/cost.py).
    max_query_cost: int = Field(200_000, ge=1)
    max_query_list_size: int = Field(10, ge=1)

    # Authentication. "auto" allows anonymous callers only when every subsystem is the embedded
    # sandbox and the gateway listens on loopback; "on" and "off" force the choice.
    auth_anonymous: Literal["auto", "on", "off"] = "auto"
    auth_anonymous_scopes: list[str] | None = None  # None: every scope (see docs/security.md)
    # None: use redis_url; both unset: clients in a file, revocations and counters in memory.
    auth_redis_url: str | None = None
    auth_redis_prefix: str = "fishwatch:"
    auth_leeway_s: float = Field(30.0, ge=0, le=300)
    auth_issuers: list[IssuerSettings] = Field(default_factory=list)
    auth_jwks_refresh_s: float = Field(3600.0, gt=0)
    auth_jwks_min_refetch_s: float = Field(60.0, ge=0)
    auth_jwks_timeout_s: float = Field(5.0, gt=0)
    auth_jwks_max_bytes: int = Field(262_144, ge=1024)
    auth_max_revocations_in_memory: int = Field(100_000, ge=1)
    auth_token_cache_size: int = Field(10_000, ge=0)  # verified tokens kept; 0 verifies every request
    # Maximum time a verified token is reused without checking its signature again.
    auth_token_cache_ttl_s: float = Field(300.0, gt=0)
    # Caller kinds (anonymous, user, client, subsystem) that may run introspection or open GraphiQL.
    introspection_callers: list[CallerKind] = ["anonymous", "user", "subsystem"]
    graphiql_callers: list[CallerKind] = ["anonymous", "user"]

    # Built-in authorization server for machine clients
    oauth_issuer: str | None = None  # None: http://{host}:{port}
    oauth_audience: str = "fishwatch-gateway"
    oauth_token_ttl_s: int = Field(3600, ge=60, le=86400)
    oauth_signing_key_files: list[str] = Field(default_factory=list)  # PEM; the first signs
    oauth_clients_file: str = "fishwatch-clients.json"
    oauth_max_concurrent_secret_checks: int = Field(4, ge=1)  # scrypt checks running at once per process

    # Abuse limits. Counters live in auth_redis_url when set, so replicas share them.
    rate_limit_window_s: int = Field(60, ge=1, le=3600)
    rate_limit_client_requests: int = Field(1200, ge=1)  # per client or user per window
    rate_limit_ip_requests: int = Field(600, ge=1)  # per client IP address per window
    persisted_queries_cache_size: int = Field(10_000, ge=0)  # in-memory store only
    persisted_queries_ttl_s: int = Field(7 * 86400, ge=60)  # Redis store only
    persisted_queries_only_callers: list[CallerKind] = Field(default_factory=list)
    ws_max_connections_per_client: int = Field(20, ge=1)  # open WebSocket connections per client
    ws_token_recheck_s: float = Field(30.0, gt=0)  # how often open WebSockets check for revocation

    # Event bus and live subscriptions. Without redis_url the bus is in-memory: one process only.
    redis_url: str | None = None
    redis_key_prefix: str = Field("fishwatch", pattern=r"^[A-Za-z0-9_.-]+$")
    redis_socket_timeout_s: float = Field(5.0, gt=0)
    redis_health_check_interval_s: float = Field(15.0, gt=0)
    redis_reconnect_backoff_base_s: float = Field(0.1, gt=0)
    redis_reconnect_backoff_max_s: float = Field(5.0, gt=0)
    redis_max_connections: int = Field(100, ge=1)  # command connections of the bus per process
    event_stream_max_events: int = Field(100_000, ge=1)
    event_stream_retention_ms: int = Field(86_400_000, ge=1000)
    event_replay_batch_events: int = Field(500, ge=1, le=10_000)
    event_max_bytes: int = Field(262_144, ge=1024)
    event_dead_letter_max_entries: int = Field(10_000, ge=1)
    subscriber_max_queued_events: int = Field(1000, ge=1)
    subscriber_close_timeout_s: float = Field(60.0, gt=0)
    ws_max_subscriptions_per_connection: int = Field(100, ge=1)
    ws_connection_init_timeout_s: float = Field(10.0, gt=0)
    ws_keepalive_interval_s: float = Field(15.0, gt=0)
    # Compression keeps zlib state per WebSocket (tens of KB), which dominates an idle subscriber.
    ws_per_message_deflate: bool = False
    subscription_max_filter_values: int = Field(100, ge=1)
    # Rendered subscription results shared by subscribers of one operation (see docs/events.md).
    subscription_render_cache_max_entries: int = Field(1024, ge=1)
    subscription_render_cache_max_bytes: int = Field(16 * 2**20, ge=65_536)
    subscription_parsed_documents_max: int = Field(256, ge=1)  # parsed documents, and validation results, kept
    # MQTT telemetry bridge; off without mqtt_url (mqtt://host:port or mqtts://user:password@host:port).
    mqtt_url: str | None = None
    mqtt_topic_filter: str = "fishwatch/+/+/+/telemetry"
    mqtt_shared_group: str = "fishwatch-gateways"  # empty: every replica receives every message
    mqtt_client_id: str = "fishwatch-gateway"
    mqtt_max_queued_messages: int = Field(10_000, ge=1)
    mqtt_keepalive_s: int = Field(30, ge=5)
    mqtt_max_payload_bytes: int = Field(65_536, ge=256)
    mqtt_reconnect_backoff_base_s: float = Field(0.2, gt=0)
    mqtt_reconnect_backoff_max_s: float = Field(10.0, gt=0)

    # Harvest forecast
    forecast_model_name: str = "harvest-forecast"
    forecast_model_alias: str = "champion"
    forecast_max_horizon_days: int = Field(365, ge=1)

    # Workflow engine. Runs are stored in Redis at redis_url, else in this process's memory.
    workflow_templates_dir: str | None = None  # None: the templates shipped in workflows/templates
    workflow_max_concurrent_steps: int = Field(500, ge=1)
    workflow_template_max_concurrent_steps: int = Field(200, ge=1)
    workflow_step_timeout_s: float = Field(60.0, gt=0)
    workflow_lease_ttl_s: float = Field(15.0, gt=0)
    workflow_heartbeat_s: float = Field(3.0, gt=0)
    workflow_retention_s: float = Field(7 * 86400.0, gt=0)
    workflow_cron_catchup_s: float = Field(300.0, ge=0)
    workflow_max_runs_in_memory: int = Field(10000, ge=1)

    @field_validator("gc_full_collection_interval_s")
    @classmethod
    def _gc_interval_off_or_long(cls, value: float) -> float:
        # A full collection walks the whole heap, so one every few milliseconds would take the CPU.
        if 0 < value < 1:
            raise ValueError("must be 0 (CPython's own policy) or at least 1 second")
        return value

    @field_validator("upstream_backoff_max_s")
    @classmethod
    def _backoff_cap_not_below_base(cls, value: float, info: Any) -> float:
        base = info.data.get("upstream_backoff_base_s", 0.0)
        if value < base:
            raise ValueError(f"must be at least upstream_backoff_base_s ({base})")
        return value

    @field_validator("workflow_heartbeat_s")
    @classmethod
    def _heartbeat_below_lease(cls, value: float, info: Any) -> float:
        lease = info.data.get("workflow_lease_ttl_s", 15.0)
        if value >= lease:
            raise ValueError(f"must be below workflow_lease_ttl_s ({lease}), so leases are renewed before they expire")
        return value

    def subsystem_url(self, name: str) -> str | None:
        url = getattr(self, f"{name}_url")
        return str(url).rstrip("/") if url is not None else None

    def subsystem_auth_header(self, name: str) -> str | None:
        secret: SecretStr | None = getattr(self, f"{name}_auth_header")
        return secret.get_secret_value() if secret is not None else None

    def missing_subsystems(self) -> list[str]:
        """Name the subsystems without a configured URL (the sandbox serves them)."""
        return [name for name in SUBSYSTEMS if getattr(self, f"{name}_url") is None]


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{ENV_PREFIX}CONFIG_FILE '{path}' does not exist; set it to a TOML file or unset it"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE '{path}' is not valid TOML: {exc}") from exc
    return data


def _describe(error: Any, from_file: set[str]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    where = f"'{field}' in the config file" if field in from_file else f"{ENV_PREFIX}{field.upper()}"
    if error["type"] == "extra_forbidden":
        return f"{where} is not a known setting; see docs/configuration.md for the list"
    value = error.get("input")
    if "auth_header" in field:
        value = "<redacted>"
    return f"{where} {value!r} is invalid: {error['msg']}"


# Settings with nested values, given in the environment as JSON.
_JSON_FIELDS = frozenset({"auth_issuers"})


def _json_value(variable: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{variable} is not valid JSON: {exc}; give a JSON array of objects") from None


def _from_environment(env: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Map `FISHWATCH_*` variables to fields; return the values and the unknown variable names."""
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG_FILE":
            continue
        field = key[len(ENV_PREFIX) :].lower()
        info = Settings.model_fields.get(field)
        if info is None:
            unknown.append(key)
        elif field in _JSON_FIELDS:
            values[field] = _json_value(key, raw)
        elif info.annotation in (list[str], list[str] | None, list[CallerKind]):
            values[field] = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            values[field] = raw
    return values, unknown


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the config file, then the environment, then `overrides`.

    Raises ConfigError with one line per invalid setting. Unknown `FISHWATCH_*` variables are
    logged as a warning, because a typo would otherwise silently leave a default in force.
    """
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_path = env.get(f"{ENV_PREFIX}CONFIG_FILE")
    if config_path:
        values.update(_read_config_file(Path(config_path)))
    from_file = set(values)
    env_values, unknown = _from_environment(env)
    for name in unknown:
        logger.warning("ignoring unknown setting %s; see docs/configuration.md for the list", name)
    values.update(env_values)
    from_file -= set(env_values)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        lines = [_describe(error, from_file) for error in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
