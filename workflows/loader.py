"""Loading and validating workflow templates from YAML files.

Validation collects every problem instead of stopping at the first, and names each one by file,
step and field, because `fishwatch workflows validate` is run by people fixing a template.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from croniter import croniter

from common.errors import WorkflowTemplateInvalidError
from connectors.actions import ActionRegistry
from workflows import expressions
from workflows.model import EventTrigger, RetryPolicy, ScheduleTrigger, StepKind, StepSpec, Template

logger = logging.getLogger(__name__)

SHIPPED_TEMPLATES_DIR = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT_TYPE = re.compile(r"^com\.fishwatch\.[a-z]+(\.[a-z0-9_]+)+$")

_COMMON_FIELDS = {"id", "kind", "depends_on", "description", "timeout_s", "retry", "compensates"}
_KIND_FIELDS: dict[StepKind, set[str]] = {
    StepKind.ACTION: {"action", "inputs", "for_each"},
    StepKind.PUBLISH: {"event_type", "inputs", "subject", "farm_id"},
    StepKind.WAIT_EVENT: {"event_type", "filter", "for_each", "key", "on_timeout"},
    StepKind.SLEEP: {"duration_s"},
    StepKind.CONDITION: {"when", "then", "else"},
    StepKind.APPROVAL: {"inputs"},
}
_TEMPLATE_FIELDS = {
    "name", "version", "description", "input_schema", "steps", "compensation", "triggers", "max_concurrent_steps",
}


@dataclass(frozen=True)
class Issue:
    """One validation problem: where it is and what is wrong."""

    file: str
    step: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.step:
            where.append(f"step '{self.step}'")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class _Checker:
    """Collects issues for one file while building its template."""

    def __init__(self, file: str, actions: ActionRegistry) -> None:
        self.file = file
        self.actions = actions
        self.issues: list[Issue] = []

    def add(self, message: str, *, step: str | None = None, field: str | None = None) -> None:
        self.issues.append(Issue(self.file, step, field, message))

    # Template

    def template(self, document: Any) -> Template | None:
        if not isinstance(document, dict):
            self.add(f"the file must hold one YAML mapping, got {type(document).__name__}")
            return None
        for key in sorted(set(document) - _TEMPLATE_FIELDS):
            self.add(f"unknown field; expected one of {', '.join(sorted(_TEMPLATE_FIELDS))}", field=str(key))

        name = document.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            self.add(f"name {name!r} is invalid; use lowercase letters, digits, '-' or '_'", field="name")
            name = str(name)
        version = document.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.add(f"version {version!r} is invalid; use a positive integer", field="version")
            version = 0
        schema = document.get("input_schema", {"type": "object"})
        self._schema(schema)
        limit = document.get("max_concurrent_steps")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            self.add(f"{limit!r} is invalid; use a positive integer", field="max_concurrent_steps")
            limit = None

        steps = self._steps(document.get("steps"), "steps", required=True)
        compensation = self._steps(document.get("compensation", []), "compensation", required=False)
        self._graph(steps, compensation)
        events, schedules = self._triggers(document.get("triggers", {}))
        triggered_by = {trigger.event_type for trigger in events}
        for spec in steps + compensation:
            if spec.kind is StepKind.PUBLISH and spec.event_type in triggered_by:
                self.add(f"publishes {spec.event_type}, which starts this template, so every run would start "
                         "another one; publish a different type", step=spec.id, field="event_type")
        return Template(
            name=name,
            version=version,
            description=str(document.get("description", "")),
            input_schema=schema if isinstance(schema, dict) else {},
            steps=tuple(steps),
            compensation=tuple(compensation),
            event_triggers=tuple(events),
            schedules=tuple(schedules),
            max_concurrent_steps=limit,
            source=self.file,
        )

    def _schema(self, schema: Any) -> None:
        if not isinstance(schema, dict):
            self.add("input_schema must be a JSON Schema object", field="input_schema")
            return
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            path = "/".join(str(part) for part in exc.path)
            self.add(f"not a valid JSON Schema (draft 2020-12) at '{path or '/'}': {exc.message}",
                     field="input_schema")

    # Steps

    def _steps(self, raw: Any, section: str, *, required: bool) -> list[StepSpec]:
        if raw is None or raw == []:
            if required:
                self.add("a template needs at least one step", field=section)
            return []
        if not isinstance(raw, list):
            self.add("must be a list of steps", field=section)
            return []
        steps = []
        for position, item in enumerate(raw):
            spec = self._step(item, f"{section}[{position}]")
            if spec is not None:
                steps.append(spec)
        return steps

    def _step(self, raw: Any, where: str) -> StepSpec | None:
        if not isinstance(raw, dict):
            self.add("must be a mapping with id and kind", field=where)
            return None
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
            self.add(f"id {step_id!r} is invalid; use letters, digits and '_', starting with a letter", field=where)
            return None
        kind_name = raw.get("kind")
        try:
            kind = StepKind(str(kind_name))
        except ValueError:
            self.add(
                f"unknown kind {kind_name!r}; expected one of {', '.join(kind.value for kind in StepKind)}",
                step=step_id, field="kind",
            )
            return None
        allowed = _COMMON_FIELDS | _KIND_FIELDS[kind]
        for key in sorted(set(raw) - allowed):
            self.add(f"unknown field for kind {kind.value}; expected one of {', '.join(sorted(allowed))}",
                     step=step_id, field=str(key))

        depends_on = raw.get("depends_on", [])
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        if not isinstance(depends_on, list) or not all(isinstance(item, str) for item in depends_on):
            self.add("must be a list of step ids", step=step_id, field="depends_on")
            depends_on = []

        inputs = raw.get("inputs", {})
        if not isinstance(inputs, dict):
            self.add("must be a mapping", step=step_id, field="inputs")
            inputs = {}
        for problem in expressions.check(inputs, "inputs"):
            self.add(f"{problem.message} in '${{{problem.expression}}}'", step=step_id, field=problem.field)

        spec = StepSpec(
            id=step_id,
            kind=kind,
            depends_on=tuple(depends_on),
            description=str(raw.get("description", "")),
            timeout_s=self._duration(raw, "timeout_s", step_id),
            retry=self._retry(raw.get("retry"), step_id),
            inputs=inputs,
            action=self._string(raw, "action", step_id),
            for_each=self._expression(raw, "for_each", step_id),
            event_type=self._string(raw, "event_type", step_id),
            subject=self._template_string(raw, "subject", step_id),
            farm_id=self._template_string(raw, "farm_id", step_id),
            filter=self._expression(raw, "filter", step_id),
            key=self._expression(raw, "key", step_id),
            on_timeout=str(raw.get("on_timeout", "fail")),
            duration_s=self._duration(raw, "duration_s", step_id),
            when=self._expression(raw, "when", step_id),
            then_steps=tuple(self._id_list(raw, "then", step_id)),
            else_steps=tuple(self._id_list(raw, "else", step_id)),
            compensates=self._string(raw, "compensates", step_id),
        )
        self._kind_rules(spec)
        return spec

    def _kind_rules(self, spec: StepSpec) -> None:
        step = spec.id
        if spec.kind is StepKind.ACTION:
            if not spec.action:
                self.add("an action step needs 'action', for example core.create_farm", step=step, field="action")
            elif spec.action not in self.actions:
                self.add(f"unknown action '{spec.action}'; known actions: {', '.join(self.actions.names())}",
                         step=step, field="action")
            else:
                action = self.actions.get(spec.action)
                given = set(spec.inputs)
                for name in sorted(given - action.known_args()):
                    self.add(f"action {spec.action} has no argument '{name}'; its arguments are "
                             f"{', '.join(sorted(action.known_args()))}", step=step, field=f"inputs.{name}")
                aliases = {info.alias or key for key, info in action.args.model_fields.items() if info.is_required()}
                for name in sorted(aliases - given):
                    self.add(f"action {spec.action} needs argument '{name}'", step=step, field=f"inputs.{name}")
        if spec.kind in (StepKind.PUBLISH, StepKind.WAIT_EVENT):
            if not spec.event_type:
                self.add("needs 'event_type', for example com.fishwatch.workflow.notification",
                         step=step, field="event_type")
            elif not _EVENT_TYPE.match(spec.event_type):
                self.add(f"event type '{spec.event_type}' is invalid; expected com.fishwatch.<family>.<name>",
                         step=step, field="event_type")
        if spec.kind is StepKind.WAIT_EVENT:
            if spec.on_timeout not in ("fail", "continue"):
                self.add(f"on_timeout '{spec.on_timeout}' is invalid; use fail or continue", step=step,
                         field="on_timeout")
            if spec.timeout_s is None:
                self.add("a wait_event step needs timeout_s, so a missing event cannot hold the run forever",
                         step=step, field="timeout_s")
            if (spec.for_each is None) != (spec.key is None):
                self.add("for_each and key go together: key names which expected item an event is for",
                         step=step, field="key")
        if spec.kind is StepKind.SLEEP and spec.duration_s is None:
            self.add("a sleep step needs duration_s", step=step, field="duration_s")
        if spec.kind is StepKind.CONDITION:
            if spec.when is None:
                self.add("a condition step needs 'when', a JMESPath expression", step=step, field="when")
            if not spec.then_steps and not spec.else_steps:
                self.add("a condition step needs 'then' or 'else' steps to choose between", step=step, field="then")

    def _string(self, raw: dict[str, Any], name: str, step: str) -> str | None:
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.add("must be a non-empty string", step=step, field=name)
            return None
        return value

    def _template_string(self, raw: dict[str, Any], name: str, step: str) -> str | None:
        value = self._string(raw, name, step)
        if value is not None:
            for problem in expressions.check(value, name):
                self.add(problem.message, step=step, field=name)
        return value

    def _expression(self, raw: dict[str, Any], name: str, step: str) -> str | None:
        value = self._string(raw, name, step)
        if value is None:
            return None
        bare = expressions.unwrap(value)
        for problem in expressions.check("${" + bare + "}", name):
            self.add(f"{problem.message} in '{bare}'", step=step, field=name)
        return bare

    def _duration(self, raw: dict[str, Any], name: str, step: str) -> float | str | None:
        value = raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.add(f"{value!r} is invalid; use seconds or a ${{...}} expression", step=step, field=name)
            return None
        if isinstance(value, str):
            problems = expressions.check(value, name)
            if not expressions.has_expression(value):
                self.add(f"{value!r} is invalid; use seconds or a ${{...}} expression", step=step, field=name)
            for problem in problems:
                self.add(problem.message, step=step, field=name)
            return value
        if value <= 0:
            self.add(f"{value} is invalid; use a positive number of seconds", step=step, field=name)
            return None
        return float(value)

    def _retry(self, raw: Any, step: str) -> RetryPolicy:
        if raw is None:
            return RetryPolicy()
        if not isinstance(raw, dict):
            self.add("must be a mapping with max_attempts, backoff_s, backoff_max_s, retry_on", step=step,
                     field="retry")
            return RetryPolicy()
        known = {"max_attempts", "backoff_s", "backoff_max_s", "retry_on"}
        for key in sorted(set(raw) - known):
            self.add(f"unknown retry field; expected one of {', '.join(sorted(known))}", step=step,
                     field=f"retry.{key}")
        attempts = raw.get("max_attempts", 1)
        if not isinstance(attempts, int) or attempts < 1 or attempts > 100:
            self.add(f"{attempts!r} is invalid; use 1 to 100", step=step, field="retry.max_attempts")
            attempts = 1
        base = raw.get("backoff_s", 0.5)
        cap = raw.get("backoff_max_s", 30.0)
        for field, value in (("retry.backoff_s", base), ("retry.backoff_max_s", cap)):
            if not isinstance(value, int | float) or value < 0:
                self.add(f"{value!r} is invalid; use a number of seconds >= 0", step=step, field=field)
        retry_on = raw.get("retry_on", [])
        if not isinstance(retry_on, list) or not all(isinstance(code, str) for code in retry_on):
            self.add("must be a list of error codes such as UPSTREAM_UNAVAILABLE", step=step, field="retry.retry_on")
            retry_on = []
        return RetryPolicy(
            max_attempts=attempts,
            backoff_s=float(base) if isinstance(base, int | float) else 0.5,
            backoff_max_s=float(cap) if isinstance(cap, int | float) else 30.0,
            retry_on=frozenset(retry_on),
        )

    def _id_list(self, raw: dict[str, Any], name: str, step: str) -> list[str]:
        value = raw.get(name, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add("must be a list of step ids", step=step, field=name)
            return []
        return value

    # Graph

    def _graph(self, steps: list[StepSpec], compensation: list[StepSpec]) -> None:
        main_ids = [spec.id for spec in steps]
        all_ids = main_ids + [spec.id for spec in compensation]
        for step_id in sorted({i for i in all_ids if all_ids.count(i) > 1}):
            self.add("duplicate step id; ids must be unique across steps and compensation", step=step_id, field="id")
        main = {spec.id: spec for spec in steps}
        comp = {spec.id: spec for spec in compensation}

        for group, known in ((main, set(main)), (comp, set(comp) | set(main))):
            for spec in group.values():
                for dep in spec.depends_on:
                    if dep not in known:
                        self.add(f"depends on unknown step '{dep}'", step=spec.id, field="depends_on")
                    elif dep == spec.id:
                        self.add("a step cannot depend on itself", step=spec.id, field="depends_on")
        for cycle in _cycles(main):
            self.add(f"dependency cycle: {' -> '.join(cycle)}", step=cycle[0], field="depends_on")
        for cycle in _cycles(comp):
            self.add(f"dependency cycle: {' -> '.join(cycle)}", step=cycle[0], field="depends_on")

        ancestors = {step_id: _ancestors(main, step_id) for step_id in main}
        for spec in steps:
            self._references(spec, ancestors[spec.id], set(main))
            if spec.kind is StepKind.CONDITION:
                for field, targets in (("then", spec.then_steps), ("else", spec.else_steps)):
                    for target in targets:
                        if target not in main:
                            self.add(f"names unknown step '{target}'", step=spec.id, field=field)
                        elif spec.id not in ancestors[target]:
                            self.add(f"step '{target}' must depend on '{spec.id}' (directly or through other steps)"
                                     " so it cannot start before the condition decides", step=spec.id, field=field)
            if spec.compensates is not None:
                self.add("only compensation steps may name 'compensates'", step=spec.id, field="compensates")
        for spec in compensation:
            self._references(spec, set(main) | _ancestors(comp, spec.id), set(main) | set(comp))
            if spec.compensates is not None and spec.compensates not in main:
                self.add(f"compensates unknown step '{spec.compensates}'", step=spec.id, field="compensates")
            if spec.kind in (StepKind.CONDITION, StepKind.APPROVAL):
                self.add(f"kind {spec.kind.value} is not allowed in compensation", step=spec.id, field="kind")

    def _references(self, spec: StepSpec, visible: set[str], known: set[str]) -> None:
        values: list[Any] = [spec.inputs, spec.subject, spec.farm_id, spec.for_each, spec.filter, spec.key, spec.when,
                             spec.timeout_s, spec.duration_s]
        bare = [value for value in values if isinstance(value, str) and "${" not in value]
        wrapped = [value for value in values if not (isinstance(value, str) and "${" not in value)]
        referenced = expressions.referenced_steps(wrapped) | expressions.referenced_steps(
            ["${" + value + "}" for value in bare]
        )
        for name in sorted(referenced):
            if name not in known:
                self.add(f"reads steps.{name}, which is not a step", step=spec.id, field="inputs")
            elif name not in visible:
                self.add(f"reads steps.{name} but does not depend on it; add it to depends_on",
                         step=spec.id, field="depends_on")

    # Triggers

    def _triggers(self, raw: Any) -> tuple[list[EventTrigger], list[ScheduleTrigger]]:
        if not isinstance(raw, dict):
            self.add("must be a mapping with 'events' and/or 'schedules'", field="triggers")
            return [], []
        for key in sorted(set(raw) - {"events", "schedules"}):
            self.add("unknown trigger kind; expected events or schedules", field=f"triggers.{key}")
        events = []
        for index, item in enumerate(raw.get("events") or []):
            where = f"triggers.events[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                self.add("needs 'type', the event type that starts a run", field=where)
                continue
            if not _EVENT_TYPE.match(item["type"]):
                self.add(f"event type '{item['type']}' is invalid; expected com.fishwatch.<family>.<name>",
                         field=f"{where}.type")
            filter_expression = item.get("filter")
            if filter_expression is not None:
                filter_expression = expressions.unwrap(str(filter_expression))
                for problem in expressions.check("${" + filter_expression + "}", f"{where}.filter"):
                    self.add(problem.message, field=problem.field)
            run_input = item.get("input", {"event": "${event.data}"})
            for problem in expressions.check(run_input, f"{where}.input"):
                self.add(problem.message, field=problem.field)
            events.append(EventTrigger(item["type"], filter_expression, run_input if isinstance(run_input, dict)
                                       else {}))
        schedules = []
        for index, item in enumerate(raw.get("schedules") or []):
            where = f"triggers.schedules[{index}]"
            cron = item.get("cron") if isinstance(item, dict) else None
            if not isinstance(cron, str) or not croniter.is_valid(cron):
                self.add(f"cron {cron!r} is invalid; use five fields such as '0 3 * * 1'", field=f"{where}.cron")
                continue
            run_input = item.get("input", {})
            schedules.append(ScheduleTrigger(cron, run_input if isinstance(run_input, dict) else {}))
        return events, schedules


def _cycles(steps: dict[str, StepSpec]) -> list[list[str]]:
    """Find dependency cycles by depth-first search; each cycle once, starting at its first step found."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(step_id: str) -> None:
        state[step_id] = 1
        stack.append(step_id)
        for dep in steps[step_id].depends_on:
            if dep not in steps or dep == step_id:
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[step_id] = 2

    for step_id in steps:
        if step_id not in state:
            visit(step_id)
    return cycles


def _ancestors(steps: dict[str, StepSpec], step_id: str) -> set[str]:
    seen: set[str] = set()
    pending = list(steps[step_id].depends_on) if step_id in steps else []
    while pending:
        current = pending.pop()
        if current in seen or current not in steps:
            continue
        seen.add(current)
        pending.extend(steps[current].depends_on)
    return seen


def load_file(path: Path, actions: ActionRegistry) -> tuple[Template | None, list[Issue]]:
    """Parse and validate one template file; return the template (None if unusable) and its issues."""
    checker = _Checker(str(path), actions)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        checker.add(f"cannot read the file: {exc.strerror}")
        return None, checker.issues
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        checker.add(f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}")
        return None, checker.issues
    template = checker.template(document)
    return (template if not checker.issues else None), checker.issues


@dataclass
class Catalog:
    """The templates loaded from one folder, by name; invalid files are left out and logged."""

    templates: dict[str, Template]
    issues: list[Issue]

    def get(self, name: str) -> Template | None:
        return self.templates.get(name)


def template_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_folder(folder: Path, actions: ActionRegistry) -> Catalog:
    """Load every `*.yaml` template of `folder`; a bad file is logged with its issues and skipped."""
    if not folder.is_dir():
        raise WorkflowTemplateInvalidError(
            f"workflow templates folder '{folder}' does not exist; set FISHWATCH_WORKFLOW_TEMPLATES_DIR to a folder",
            folder=str(folder),
        )
    templates: dict[str, Template] = {}
    issues: list[Issue] = []
    for path in template_files(folder):
        template, found = load_file(path, actions)
        if template is not None and template.name in templates:
            found = [Issue(str(path), None, "name",
                           f"template name '{template.name}' is also used by {templates[template.name].source}")]
            template = None
        if template is None:
            for issue in found:
                logger.error("workflow template skipped: %s", issue)
            issues.extend(found)
            continue
        templates[template.name] = template
    logger.info("workflow templates loaded from %s: %s", folder, ", ".join(sorted(templates)) or "none")
    return Catalog(templates, issues)


def format_issues(issues: Iterable[Issue]) -> str:
    return "\n".join(str(issue) for issue in issues)
