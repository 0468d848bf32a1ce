"""MLflow stand-in: the tracking and registry REST API 2.0 subset Fish Watch uses, and /invocations.

GET endpoints read query parameters and POST endpoints read a JSON body, as the MLflow server does.
Errors use MLflow's shape `{"error_code": ..., "message": ...}`. The scoring endpoint serves the
harvest-forecast version that the `champion` alias points at when the request arrives.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from sandbox.data import SandboxData
from sandbox.growth import GrowthModel, ScoringInputError, frame_rows, predict_rows
from sandbox.http import Handler, request_id_middleware
from sandbox.mlflow_store import JsonObject, MetricPoint, MlflowError, MlflowStore, Run
from sandbox.seed_mlflow import HARVEST_MODEL, SERVED_ALIAS

logger = logging.getLogger(__name__)

API = "/api/2.0/mlflow"
# max_results per search endpoint: (default, maximum).
# NOTE: these follow MLflow 2.x server defaults from memory and were not checked against its source.
SEARCH_LIMITS = {
    "registered-models": (100, 1000),
    "model-versions": (10_000, 200_000),
    "experiments": (1000, 50_000),
    "runs": (1000, 50_000),
}
_EQUALS = re.compile(r"""^\s*(name|run_id)\s*=\s*(['"])(.*?)\2\s*$""")
_LIKE = re.compile(r"""^\s*name\s+(I?LIKE)\s*(['"])(.*?)\2\s*$""", re.IGNORECASE)


@web.middleware
async def mlflow_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MlflowError as error:
        return web.json_response({"error_code": error.error_code, "message": error.message}, status=error.status)
    except web.HTTPNotFound:
        message = f"No API endpoint for {request.method} {request.path}"
        return web.json_response({"error_code": "ENDPOINT_NOT_FOUND", "message": message}, status=404)
    except web.HTTPMethodNotAllowed:
        message = f"Method {request.method} is not allowed on {request.path}"
        return web.json_response({"error_code": "BAD_REQUEST", "message": message}, status=405)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(
            {"error_code": "INTERNAL_ERROR", "message": "internal error; see the sandbox log"}, status=500
        )


async def request_fields(request: web.Request) -> dict[str, Any]:
    """Return the request's fields: the query string for GET and DELETE, the JSON body otherwise."""
    if request.method in ("GET", "DELETE"):
        return dict(request.query)
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise MlflowError("MALFORMED_REQUEST", f"request body is not valid JSON: {error}", 400) from error
    if not isinstance(body, dict):
        raise MlflowError("MALFORMED_REQUEST", "request body must be a JSON object", 400)
    return body


def required(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        raise MlflowError.invalid(f"Missing value for required parameter '{name}'.")
    return str(value)


def integer(fields: dict[str, Any], name: str, default: int, maximum: int | None = None) -> int:
    raw = fields.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise MlflowError.invalid(f"Invalid value {raw!r} for parameter '{name}': expected an integer.") from None
    if value < 1 or (maximum is not None and value > maximum):
        limit = f"between 1 and {maximum}" if maximum is not None else "positive"
        raise MlflowError.invalid(f"Invalid value {value} for parameter '{name}' supplied; it must be {limit}.")
    return value


def tag_map(fields: dict[str, Any], name: str = "tags") -> dict[str, str]:
    tags = fields.get(name) or []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) and "key" in tag for tag in tags):
        raise MlflowError.invalid(f"Parameter '{name}' must be a list of {{key, value}} objects.")
    return {str(tag["key"]): str(tag.get("value", "")) for tag in tags}


def paginate(items: Sequence[Any], fields: dict[str, Any], kind: str) -> tuple[list[Any], str | None]:
    """Page by offset; page tokens are base64 JSON offsets, as in MLflow's SQL store."""
    default, maximum = SEARCH_LIMITS[kind]
    max_results = integer(fields, "max_results", default, maximum)
    token = fields.get("page_token") or None
    offset = 0
    if token is not None:
        try:
            offset = int(json.loads(base64.b64decode(str(token)))["offset"])
        except (ValueError, KeyError, TypeError):
            raise MlflowError.invalid(f"Invalid page token {token!r}; pass next_page_token unchanged.") from None
    chunk = list(items[offset : offset + max_results])
    next_offset = offset + max_results
    next_token = (
        base64.b64encode(json.dumps({"offset": next_offset}).encode()).decode() if next_offset < len(items) else None
    )
    return chunk, next_token


def name_filter(filter_string: str | None) -> Callable[[str], bool]:
    """Compile `name = 'x'` or `name LIKE 'x%'` (the forms Fish Watch sends) into a predicate."""
    if not filter_string:
        return lambda _name: True
    equals = _EQUALS.match(filter_string)
    if equals and equals.group(1) == "name":
        expected_name = equals.group(3)
        return lambda name: name == expected_name
    like = _LIKE.match(filter_string)
    if like:
        pattern = _like_to_regex(like.group(3))
        flags = re.IGNORECASE if like.group(1).upper() == "ILIKE" else 0
        compiled = re.compile(pattern, flags)
        return lambda name: compiled.fullmatch(name) is not None
    # NOTE: the real server accepts a full SQL-like grammar; the stand-in only parses these forms.
    raise MlflowError.invalid(f"Unsupported filter {filter_string!r}; use name = 'x' or name LIKE 'x%'.")


def _like_to_regex(like_pattern: str) -> str:
    """Translate an SQL LIKE pattern: % matches any run of characters and _ one character."""
    parts = []
    for char in like_pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


class MlflowApi:
    """Handlers over the data set's MLflow store."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data
        self.store: MlflowStore = data.mlflow

    def _now_ms(self) -> int:
        return int(self.data.clock.now().timestamp() * 1000)

    # Registered models and versions.

    async def search_models(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        matches = name_filter(fields.get("filter"))
        models = sorted((m for m in self.store.models.values() if matches(m.name)), key=lambda m: m.name)
        page, token = paginate(models, fields, "registered-models")
        return _json({"registered_models": [m.to_json() for m in page], "next_page_token": token})

    async def get_model(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        return _json({"registered_model": self.store.model(required(fields, "name")).to_json()})

    async def create_model(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        model = self.store.create_model(
            required(fields, "name"), str(fields.get("description", "")), tag_map(fields), self._now_ms()
        )
        return _json({"registered_model": model.to_json()})

    async def get_alias(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        name = required(fields, "name")
        version = self.store.version_by_alias(name, required(fields, "alias"))
        return _json({"model_version": self.store.model(name).version_json(version)})

    async def set_alias(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        self.store.set_alias(
            required(fields, "name"), required(fields, "alias"), required(fields, "version"), self._now_ms()
        )
        return _json({})

    async def delete_alias(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        self.store.delete_alias(required(fields, "name"), required(fields, "alias"))
        return _json({})

    async def search_versions(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        filter_string = fields.get("filter") or ""
        name_equals = None
        run_equals = None
        for clause in re.split(r"\s+AND\s+", filter_string, flags=re.IGNORECASE) if filter_string else []:
            match = _EQUALS.match(clause)
            if match is None:
                raise MlflowError.invalid(f"Unsupported filter {filter_string!r}; use name = 'x' and/or run_id = 'y'.")
            if match.group(1) == "name":
                name_equals = match.group(3)
            else:
                run_equals = match.group(3)
        versions = []
        for model in sorted(self.store.models.values(), key=lambda m: m.name):
            if name_equals is not None and model.name != name_equals:
                continue
            # Newest version first within each model.
            for version in sorted(model.versions.values(), key=lambda v: -v.version):
                if run_equals is None or version.run_id == run_equals:
                    entry = model.version_json(version)
                    # MLflow 3.17's search leaves aliases and tags out; only get and alias lookups carry them.
                    entry.pop("aliases", None)
                    entry.pop("tags", None)
                    versions.append(entry)
        page, token = paginate(versions, fields, "model-versions")
        return _json({"model_versions": page, "next_page_token": token})

    async def get_version(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        name = required(fields, "name")
        version = self.store.version(name, required(fields, "version"))
        return _json({"model_version": self.store.model(name).version_json(version)})

    async def create_version(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        name = required(fields, "name")
        version = self.store.create_version(
            name,
            required(fields, "source"),
            str(fields.get("run_id") or ""),
            str(fields.get("description", "")),
            tag_map(fields),
            self._now_ms(),
        )
        return _json({"model_version": self.store.model(name).version_json(version)})

    # Experiments and runs.

    async def get_experiment(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        return _json({"experiment": self.store.experiment(required(fields, "experiment_id")).to_json()})

    async def get_experiment_by_name(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        return _json({"experiment": self.store.experiment_by_name(required(fields, "experiment_name")).to_json()})

    async def create_experiment(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        experiment = self.store.create_experiment(
            required(fields, "name"), fields.get("artifact_location"), tag_map(fields), self._now_ms()
        )
        return _json({"experiment_id": experiment.experiment_id})

    async def search_experiments(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        matches = name_filter(fields.get("filter"))
        experiments = [e for e in self.store.experiments.values() if matches(e.name)]
        experiments.sort(key=lambda e: (-e.last_update_time, -int(e.experiment_id)))
        page, token = paginate(experiments, fields, "experiments")
        return _json({"experiments": [e.to_json() for e in page], "next_page_token": token})

    async def get_run(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run_id = fields.get("run_id") or fields.get("run_uuid")
        if not run_id:
            raise MlflowError.invalid("Missing value for required parameter 'run_id'.")
        return _json({"run": self.store.run(str(run_id)).to_json()})

    async def create_run(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        experiment = self.store.experiment(required(fields, "experiment_id"))
        run_id = uuid.uuid4().hex
        tags = tag_map(fields)
        run_name = str(fields.get("run_name") or tags.get("mlflow.runName") or f"run-{run_id[:8]}")
        run = Run(
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            run_name=run_name,
            user_id=str(fields.get("user_id", "")),
            status="RUNNING",
            start_time=integer(fields, "start_time", self._now_ms()),
            end_time=None,
            artifact_uri=f"{experiment.artifact_location}/{run_id}/artifacts",
            tags={**tags, "mlflow.runName": run_name},
        )
        self.store.add_run(run)
        return _json({"run": run.to_json()})

    async def update_run(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run = self.store.run(required(fields, "run_id"))
        status = fields.get("status")
        if status is not None:
            if status not in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
                raise MlflowError.invalid(f"Invalid run status {status!r}.")
            run.status = str(status)
        if fields.get("end_time") is not None:
            run.end_time = integer(fields, "end_time", 0)
        if fields.get("run_name"):
            run.run_name = str(fields["run_name"])
        return _json({"run_info": run.info_json()})

    async def log_metric(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run = self.store.run(required(fields, "run_id"))
        run.metrics.append(_metric(fields, self._now_ms()))
        return _json({})

    async def log_param(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run = self.store.run(required(fields, "run_id"))
        self.store.log_param(run, required(fields, "key"), str(fields.get("value", "")))
        return _json({})

    async def set_tag(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run = self.store.run(required(fields, "run_id"))
        run.tags[required(fields, "key")] = str(fields.get("value", ""))
        return _json({})

    async def log_batch(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        run = self.store.run(required(fields, "run_id"))
        metrics = fields.get("metrics") or []
        params = fields.get("params") or []
        if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
            raise MlflowError.invalid("Parameter 'metrics' must be a list of metric objects.")
        if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
            raise MlflowError.invalid("Parameter 'params' must be a list of {key, value} objects.")
        # Validate everything before writing, so a bad entry leaves the run unchanged.
        points = [_metric(metric, self._now_ms()) for metric in metrics]
        pairs = [(required(param, "key"), str(param.get("value", ""))) for param in params]
        tags = tag_map(fields)
        for key, value in pairs:
            self.store.log_param(run, key, value)
        run.metrics.extend(points)
        run.tags.update(tags)
        return _json({})

    async def search_runs(self, request: web.Request) -> web.Response:
        fields = await request_fields(request)
        experiment_ids = fields.get("experiment_ids") or []
        if not isinstance(experiment_ids, list) or not experiment_ids:
            raise MlflowError.invalid("Parameter 'experiment_ids' must be a non-empty list.")
        if fields.get("filter"):
            # NOTE: run filters are not parsed by the stand-in; search by experiment only.
            raise MlflowError.invalid(
                "The sandbox MLflow supports run search by experiment_ids only, without a filter."
            )
        wanted = {str(e) for e in experiment_ids}
        runs = sorted(
            (r for r in self.store.runs.values() if r.experiment_id in wanted), key=lambda r: (-r.start_time, r.run_id)
        )
        page, token = paginate(runs, fields, "runs")
        body: JsonObject = {"runs": [r.to_json() for r in page]}
        if token:
            body["next_page_token"] = token
        return _json(body)

    # Model serving.

    async def invocations(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _scoring_error(415, f"Content type {request.content_type!r} is not supported; send application/json")
        try:
            body = json.loads(await request.read())
        except ValueError as error:
            return _scoring_error(400, f"request body is not valid JSON: {error}")
        model_version = self.store.version_by_alias(HARVEST_MODEL, SERVED_ALIAS)
        model = GrowthModel.from_params(self.store.run(model_version.run_id).params)
        try:
            predictions = predict_rows(model, frame_rows(body))
        except ScoringInputError as error:
            return _scoring_error(400, str(error))
        return _json({"predictions": predictions})


def _metric(fields: dict[str, Any], now_ms: int) -> MetricPoint:
    key = required(fields, "key")
    try:
        value = float(fields["value"])
    except (KeyError, TypeError, ValueError):
        raise MlflowError.invalid(f"Missing or non-numeric value for metric '{key}'.") from None
    return MetricPoint(key, value, integer(fields, "timestamp", now_ms), int(fields.get("step", 0) or 0))


def _json(body: JsonObject) -> web.Response:
    return web.json_response(body)


def _scoring_error(status: int, message: str) -> web.Response:
    return web.json_response({"error_code": "BAD_REQUEST", "message": message}, status=status)


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(data: SandboxData) -> web.Application:
    """Build the MLflow stand-in over the data set's MLflow store."""
    api = MlflowApi(data)
    app = web.Application(middlewares=[request_id_middleware, mlflow_error_middleware])
    app.router.add_get("/health", health)
    app.router.add_get("/ping", health)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/invocations", api.invocations)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "registered-models/search", api.search_models),
        ("GET", "registered-models/get", api.get_model),
        ("POST", "registered-models/create", api.create_model),
        ("GET", "registered-models/alias", api.get_alias),
        ("POST", "registered-models/alias", api.set_alias),
        ("DELETE", "registered-models/alias", api.delete_alias),
        ("GET", "model-versions/search", api.search_versions),
        ("GET", "model-versions/get", api.get_version),
        ("POST", "model-versions/create", api.create_version),
        ("GET", "experiments/get", api.get_experiment),
        ("GET", "experiments/get-by-name", api.get_experiment_by_name),
        ("POST", "experiments/create", api.create_experiment),
        ("GET", "experiments/search", api.search_experiments),
        ("POST", "experiments/search", api.search_experiments),
        ("GET", "runs/get", api.get_run),
        ("POST", "runs/create", api.create_run),
        ("POST", "runs/update", api.update_run),
        ("POST", "runs/log-metric", api.log_metric),
        ("POST", "runs/log-parameter", api.log_param),
        ("POST", "runs/set-tag", api.set_tag),
        ("POST", "runs/log-batch", api.log_batch),
        ("POST", "runs/search", api.search_runs),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, f"{API}/{path}", handler)
    return app
