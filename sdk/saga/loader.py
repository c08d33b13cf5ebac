"""Saga YAML → :class:`SagaDefinition`, with every problem reported at its ``file:line:col``.

PyYAML's composer keeps each node's position (``start_mark``), so the checks walk nodes rather than plain
values: an error can point at the key, the value or the character of an expression that is wrong."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdk.saga import expressions
from sdk.saga.durations import HINT as DURATION_HINT
from sdk.saga.durations import parse_duration
from sdk.saga.errors import SagaDefinitionError, SagaIssue
from sdk.saga.input_schema import KEYS as SCHEMA_KEYS
from sdk.saga.input_schema import TYPES as SCHEMA_TYPES
from sdk.saga.model import ActionRef, RecoveryMode, RetryPolicy, SagaDefinition, Step

SAGA_KEYS = ("name", "version", "description", "input", "timeout", "recovery", "steps")
STEP_KEYS = ("id", "action", "compensate", "input", "after", "retry", "timeout", "recovery")
RETRY_KEYS = ("attempts", "backoff", "max_backoff")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
ACTION = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
DEFAULT_STEP_TIMEOUT = 10.0
DEFAULT_SAGA_TIMEOUT = 600.0


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[SagaIssue] = []

    def error(self, node: Node | None, message: str, step: str | None = None, offset: int = 0) -> None:
        if node is None:
            line, column = 1, 1
        else:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            if isinstance(node, ScalarNode) and offset and node.start_mark.line == node.end_mark.line:
                column += offset + (1 if node.style in ("'", '"') else 0)
        self.issues.append(SagaIssue(self.file, line, column, message, step))

    # -- generic node helpers -------------------------------------------------------------------------------
    def mapping(
        self, node: Node, what: str, allowed: tuple[str, ...], step: str | None = None
    ) -> dict[str, tuple[Node, Node]] | None:
        """``{key: (key node, value node)}`` with unknown and duplicate keys reported."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping of keys ({', '.join(allowed)}), not {_kind(node)}", step)
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.error(key_node, f"{what}: keys must be plain words", step)
                continue
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' in {what} (first at line {first}); keep one", step)
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                self.error(key_node, f"unknown key '{key}' in {what}; {hint}", step)
                continue
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            return _NOT_SCALAR
        return SafeConstructor().construct_object(node)  # type: ignore[no-untyped-call]

    def value(self, node: Node, what: str, step: str | None) -> Any:
        """Any JSON value (an input template or the input schema); reports what is not JSON."""
        try:
            value = SafeConstructor().construct_document(node)  # type: ignore[no-untyped-call]
            json.dumps(value)
        except (yaml.YAMLError, TypeError, ValueError) as exc:
            self.error(node, f"{what} is not a JSON value ({exc}); quote dates and other special scalars", step)
            return None
        return value

    def duration(self, node: Node, what: str, step: str | None) -> float | None:
        value = self.scalar(node)
        seconds = parse_duration(value) if value is not _NOT_SCALAR else None
        if seconds is None:
            self.error(node, f"{what}: {_show(node)} is not a duration; {DURATION_HINT}", step)
        return seconds

    def recovery(self, node: Node, step: str | None) -> RecoveryMode | None:
        value = self.scalar(node)
        try:
            return RecoveryMode(value)
        except ValueError:
            self.error(node, f"recovery: {_show(node)} is not a recovery policy; write backward or forward", step)
            return None

    def action(self, node: Node, key: str, step: str | None) -> ActionRef | None:
        value = self.scalar(node)
        match = ACTION.match(value) if isinstance(value, str) else None
        if match is None:
            self.error(node, f"{key}: {_show(node)} is not `service.action`; write e.g. flights.book", step)
            return None
        return ActionRef(match.group(1), match.group(2))


class _NotScalar:
    pass


_NOT_SCALAR = _NotScalar()


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return f"the scalar {_show(node)}"


def _show(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        return _kind(node)
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_saga(text: str, file: str = "<saga>") -> SagaDefinition:
    """Parse and validate a saga definition; raises :class:`SagaDefinitionError` listing every problem."""
    check = _Checker(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise SagaDefinitionError([SagaIssue(file, line, column, f"not valid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise SagaDefinitionError([SagaIssue(file, 1, 1, f"not valid YAML: {exc}")]) from None
    if root is None:
        raise SagaDefinitionError([SagaIssue(file, 1, 1, "empty file; a saga needs at least name, version and steps")])
    saga = _saga(check, root, text)
    if check.issues or saga is None:
        raise SagaDefinitionError(check.issues)
    return saga


def load_saga(path: str) -> SagaDefinition:
    """Read and validate a saga file (raises :class:`SagaDefinitionError`, or OSError for an unreadable file)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_saga(text, path)


def _saga(check: _Checker, root: Node, text: str) -> SagaDefinition | None:
    keys = check.mapping(root, "the saga", SAGA_KEYS)
    if keys is None:
        return None
    for required in ("name", "version", "steps"):
        if required not in keys:
            check.error(root, f"missing `{required}`; a saga needs name, version and steps")
    name = ""
    if "name" in keys:
        node = keys["name"][1]
        value = check.scalar(node)
        if isinstance(value, str) and NAME.match(value):
            name = value
        else:
            check.error(node, f"name: {_show(node)} is not a saga name; use letters, digits, _ and -, e.g. book_trip")
    version = 0
    if "version" in keys:
        node = keys["version"][1]
        value = check.scalar(node)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            version = value
        else:
            check.error(node, f"version: {_show(node)} is not a version; write a whole number from 1, e.g. version: 1")
    description = ""
    if "description" in keys:
        value = check.scalar(keys["description"][1])
        description = value if isinstance(value, str) else ""
    timeout = DEFAULT_SAGA_TIMEOUT
    if "timeout" in keys:
        timeout = check.duration(keys["timeout"][1], "timeout", None) or timeout
    recovery = RecoveryMode.BACKWARD
    if "recovery" in keys:
        recovery = check.recovery(keys["recovery"][1], None) or recovery
    schema: dict[str, Any] | None = None
    if "input" in keys:
        schema = _input_schema(check, keys["input"][1], "input")
    steps: list[tuple[Step, dict[str, tuple[Node, Node]], Node]] = []
    if "steps" in keys:
        steps = _steps(check, keys["steps"][1], recovery)
    if not steps:
        return None
    # a bad name or version is reported already; the steps are still checked, so one run reports every problem
    saga = SagaDefinition(
        name=name or "invalid",
        version=version or 1,
        steps=tuple(s for s, _, _ in steps),
        timeout=timeout,
        recovery=recovery,
        input_schema=schema,
        description=description,
        source=text,
    )
    _check_graph(check, saga, steps)
    return saga


def _input_schema(check: _Checker, node: Node, where: str) -> dict[str, Any] | None:
    keys = check.mapping(node, f"`{where}` (a JSON-Schema subset)", SCHEMA_KEYS)
    if keys is None:
        return None
    schema: dict[str, Any] = {}
    for key, (_, value_node) in keys.items():
        if key == "properties":
            props = check.mapping(value_node, f"{where}.properties", tuple(_names(value_node)))
            schema["properties"] = {
                name: _input_schema(check, sub, f"{where}.properties.{name}") or {}
                for name, (_, sub) in (props or {}).items()
            }
        elif key == "items":
            schema["items"] = _input_schema(check, value_node, f"{where}.items") or {}
        elif key == "type":
            value = check.scalar(value_node)
            if value not in SCHEMA_TYPES:
                check.error(
                    value_node,
                    f"{where}.type: {_show(value_node)} is not a type; write one of {', '.join(SCHEMA_TYPES)}",
                )
            schema["type"] = value
        elif key == "required":
            value = check.value(value_node, f"{where}.required", None)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                check.error(value_node, f"{where}.required: write a list of property names, e.g. [user, amount]")
            else:
                schema["required"] = value
        else:
            schema[key] = check.value(value_node, f"{where}.{key}", None)
    props = schema.get("properties") or {}
    for name in schema.get("required", []):
        if props and name not in props:
            check.error(
                keys["required"][1],
                f"{where}.required: '{name}' is not among the properties; declare it under properties",
            )
    return schema


def _names(node: Node) -> list[str]:
    if not isinstance(node, MappingNode):
        return []
    return [k.value for k, _ in node.value if isinstance(k, ScalarNode) and isinstance(k.value, str)]


def _steps(
    check: _Checker, node: Node, saga_recovery: RecoveryMode
) -> list[tuple[Step, dict[str, tuple[Node, Node]], Node]]:
    if not isinstance(node, SequenceNode) or not node.value:
        check.error(node, "steps: write a non-empty list of steps, each `- id: ...` with an action")
        return []
    out: list[tuple[Step, dict[str, tuple[Node, Node]], Node]] = []
    seen: dict[str, Node] = {}
    previous: str | None = None
    for n, step_node in enumerate(node.value):
        raw_id = _raw_id(step_node)
        before = len(check.issues)
        keys = (
            check.mapping(step_node, "the step", STEP_KEYS, raw_id)
            if raw_id
            else check.mapping(step_node, f"step #{n + 1}", STEP_KEYS)
        )
        misspelled = any("did you mean 'compensate'" in i.message for i in check.issues[before:])
        if keys is None:
            previous = None
            continue
        step_id: str | None = None
        if "id" not in keys:
            check.error(step_node, f"step #{n + 1} has no `id`; add e.g. `id: flight`")
        else:
            id_node = keys["id"][1]
            value = check.scalar(id_node)
            if not isinstance(value, str) or not NAME.match(value):
                check.error(
                    id_node, f"id: {_show(id_node)} is not a step id; use letters, digits, _ and -, e.g. flight"
                )
            elif value in seen:
                first = seen[value].start_mark.line + 1
                check.error(
                    id_node, f"duplicate step id '{value}' (first at line {first}); give each step its own id", value
                )
            else:
                step_id = value
                seen[value] = id_node
        label = step_id or f"#{n + 1}"
        step = _step(check, step_id or f"#{n + 1}", label, keys, step_node, saga_recovery, previous, misspelled)
        previous = step_id
        if step is not None and step_id is not None:
            out.append((step, keys, step_node))
    return out


def _raw_id(node: Node) -> str | None:
    """The step's id as written (for naming the step in errors found before it is checked)."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == "id" and isinstance(v, ScalarNode) and NAME.match(v.value):
                return str(v.value)
    return None


def _step(
    check: _Checker,
    step_id: str,
    label: str,
    keys: dict[str, tuple[Node, Node]],
    node: Node,
    saga_recovery: RecoveryMode,
    previous: str | None,
    misspelled: bool = False,
) -> Step | None:
    ok = True
    action: ActionRef | None = None
    if "action" not in keys:
        check.error(node, "missing `action`; add e.g. `action: flights.book` (service.action)", label)
        ok = False
    else:
        action = check.action(keys["action"][1], "action", label)
        ok = ok and action is not None
    recovery = saga_recovery
    if "recovery" in keys:
        recovery = check.recovery(keys["recovery"][1], label) or saga_recovery
    compensate: ActionRef | None = None
    if "compensate" in keys:
        compensate = check.action(keys["compensate"][1], "compensate", label)
    elif recovery is RecoveryMode.BACKWARD and not misspelled:  # the misspelt key is the one error to fix
        check.error(
            node,
            "a backward step needs `compensate: service.action` to undo it; add one, "
            "or mark the step `recovery: forward` if it must not be undone",
            label,
        )
    retry = RetryPolicy()
    if "retry" in keys:
        retry = _retry(check, keys["retry"][1], label, recovery) or retry
    timeout = DEFAULT_STEP_TIMEOUT
    if "timeout" in keys:
        timeout = check.duration(keys["timeout"][1], "timeout", label) or timeout
    after: tuple[str, ...] = (previous,) if previous else ()
    if "after" in keys:
        after_node = keys["after"][1]
        items = after_node.value if isinstance(after_node, SequenceNode) else None
        values = [check.scalar(i) for i in items] if items is not None else None
        if values is None and isinstance(after_node, ScalarNode) and isinstance(check.scalar(after_node), str):
            items, values = [after_node], [check.scalar(after_node)]
        if values is None or not all(isinstance(v, str) for v in values):
            check.error(
                after_node,
                "after: write a list of step ids, e.g. `after: [flight, hotel]`, or [] to start first",
                label,
            )
        else:
            after = tuple(values)
    template: Any = {}
    if "input" in keys:
        template = check.value(keys["input"][1], "input", label)
    if not ok or action is None:
        # reported above; the step stays in the graph, or every step after it would be "unknown" and the
        # checks of the steps that refer to it would be skipped
        action = ActionRef("invalid", "invalid")
    return Step(step_id, action, compensate, template, after, retry, timeout, recovery)


def _retry(check: _Checker, node: Node, label: str, recovery: RecoveryMode) -> RetryPolicy | None:
    keys = check.mapping(node, "retry", RETRY_KEYS, label)
    if keys is None:
        return None
    attempts, backoff, maximum = RetryPolicy().attempts, RetryPolicy().backoff, RetryPolicy().max_backoff
    if "attempts" in keys:
        value_node = keys["attempts"][1]
        value = check.scalar(value_node)
        if recovery is RecoveryMode.FORWARD:
            check.error(
                keys["attempts"][0],
                "retry.attempts: a forward step is retried until it succeeds; "
                "remove `attempts` (backoff still applies)",
                label,
            )
        elif isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000:
            attempts = value
        else:
            check.error(
                value_node,
                f"retry.attempts: {_show(value_node)} is not a count; write a whole number from 1 to 1000",
                label,
            )
    if "backoff" in keys:
        backoff = check.duration(keys["backoff"][1], "retry.backoff", label) or backoff
    if "max_backoff" in keys:
        maximum = check.duration(keys["max_backoff"][1], "retry.max_backoff", label) or maximum
    return RetryPolicy(attempts, backoff, max(maximum, backoff))


def _check_graph(
    check: _Checker, saga: SagaDefinition, steps: list[tuple[Step, dict[str, tuple[Node, Node]], Node]]
) -> None:
    ids = set(saga.ids)
    by_id = {s.id: (s, keys, node) for s, keys, node in steps}
    bad_after = False
    for step, keys, node in steps:
        after_node = keys["after"][1] if "after" in keys else node
        for n, dep in enumerate(step.after):
            at = after_node.value[n] if isinstance(after_node, SequenceNode) else after_node
            if dep == step.id:
                check.error(at, f"after: a step cannot wait for itself; remove '{dep}'", step.id)
                bad_after = True
            elif dep not in ids:
                close = difflib.get_close_matches(dep, sorted(ids), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"steps are: {', '.join(saga.ids)}"
                check.error(at, f"after: unknown step '{dep}'; {hint}", step.id)
                bad_after = True
    if bad_after:
        return
    cycle = _find_cycle(saga)
    if cycle:
        last = by_id[cycle[-2]]
        after_node = last[1]["after"][1] if "after" in last[1] else last[2]
        check.error(
            after_node,
            f"cycle in `after`: {' -> '.join(reversed(cycle))}; a saga is a DAG, remove one of these dependencies",
            last[0].id,
        )
        return
    ancestors = {s.id: saga.ancestors(s.id) for s in saga.steps}
    for step, keys, _node in steps:
        if "input" in keys:
            _check_expressions(check, saga, step, keys["input"][1], ancestors[step.id])
    for step, keys, node in steps:
        if step.recovery is not RecoveryMode.FORWARD or step.compensate is not None:
            continue
        for other in saga.steps:
            if other.recovery is RecoveryMode.BACKWARD and other.id != step.id and other.id not in ancestors[step.id]:
                at = keys["after"][1] if "after" in keys else node
                check.error(
                    at,
                    f"forward step without compensation may run before backward step '{other.id}' finished, and a "
                    f"failure there could not undo it; add '{other.id}' to its `after` (or give it `compensate`)",
                    step.id,
                )
                break


def _find_cycle(saga: SagaDefinition) -> list[str]:
    """A cycle as [a, b, ..., a] following `after` edges, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in saga.step(node).after:
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for s in saga.steps:
        if s.id not in state:
            found = visit(s.id)
            if found:
                return found
    return []


def _check_expressions(check: _Checker, saga: SagaDefinition, step: Step, node: Node, ancestors: set[str]) -> None:
    def walk(n: Node) -> None:
        if isinstance(n, MappingNode):
            for _, v in n.value:
                walk(v)
        elif isinstance(n, SequenceNode):
            for v in n.value:
                walk(v)
        elif isinstance(n, ScalarNode) and isinstance(n.value, str) and "$" in n.value:
            try:
                parts = expressions.parse(n.value)
            except expressions.ExpressionError as exc:
                check.error(n, str(exc), step.id, exc.offset)
                return
            for part in parts:
                if isinstance(part, expressions.Reference):
                    _check_reference(check, saga, step, n, part, ancestors)

    walk(node)


def _check_reference(
    check: _Checker, saga: SagaDefinition, step: Step, node: Node, ref: expressions.Reference, ancestors: set[str]
) -> None:
    def error(message: str) -> None:
        check.error(node, message.replace(ref.text, f"`{ref.text}`", 1), step.id, ref.offset)

    if ref.path[0] == "input":
        schema = saga.input_schema
        for n, part in enumerate(ref.path[1:], start=1):
            props = (schema or {}).get("properties")
            if not props:
                break
            if part not in props:
                close = difflib.get_close_matches(part, sorted(props), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"declared: {', '.join(sorted(props))}"
                error(f"{ref.text}: '{'.'.join(ref.path[: n + 1])}' is not declared in the saga's input; {hint}")
                return
            schema = props[part]
        return
    target = ref.step
    assert target is not None
    if target == step.id:
        error(f"{ref.text}: a step cannot read its own output; use an earlier step's output or the saga input")
    elif target not in saga.ids:
        close = difflib.get_close_matches(target, saga.ids, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"steps are: {', '.join(saga.ids)}"
        error(f"{ref.text}: unknown step '{target}'; {hint}")
    elif target not in ancestors:
        error(
            f"{ref.text}: step '{target}' may not have finished when this step starts; "
            f"add '{target}' to this step's `after`"
        )
