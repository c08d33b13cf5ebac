"""Expressions in a step's ``input``: ``${input.amount}``, ``${steps.flight.output.booking_id}``.

A string that is exactly one expression takes the referenced value with its JSON type; expressions inside a
longer string are rendered as text. ``$$`` writes a literal ``$``. Paths are dot-separated names; a list item is
an integer segment (``${input.legs.0.city}``). Only two roots exist: ``input`` (the saga's input) and
``steps.<id>.output`` (a completed step's output)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_-]*|\d+)$")


class ExpressionError(ValueError):
    """An expression that does not parse; ``offset`` is where in the string the problem starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class EvaluationError(ValueError):
    """An expression whose value does not exist at run time (a missing field)."""


@dataclass(frozen=True)
class Reference:
    """One ``${...}``: its path and where it sits in the string."""

    path: tuple[str, ...]
    offset: int
    text: str

    @property
    def step(self) -> str | None:
        """The step id for ``steps.<id>.output...``, else None."""
        return self.path[1] if self.path[0] == "steps" and len(self.path) > 1 else None


def _parse_path(body: str, offset: int) -> tuple[str, ...]:
    text = body.strip()
    if not text:
        raise ExpressionError("empty expression `${}`; write e.g. ${input.amount}", offset)
    parts = tuple(text.split("."))
    for part in parts:
        if not _SEGMENT.match(part):
            raise ExpressionError(
                f"cannot parse `${{{body}}}`: {part!r} is not a name; "
                "write a dotted path such as ${input.amount} or ${steps.flight.output.booking_id}",
                offset,
            )
    root = parts[0]
    if root == "input":
        return parts
    if root == "steps":
        if len(parts) < 3 or parts[2] != "output":
            raise ExpressionError(
                f"`${{{body}}}`: a step is read through its output; write ${{steps.<id>.output.<field>}}", offset
            )
        return parts
    raise ExpressionError(
        f"`${{{body}}}`: unknown root {root!r}; an expression starts with `input.` or `steps.<id>.output`", offset
    )


def parse(text: str) -> list[Reference | str]:
    """The string split into literal text and references (raises ExpressionError)."""
    out: list[Reference | str] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            literal.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise ExpressionError("unclosed `${`: an expression ends with `}`", i)
            body = text[i + 2 : end]
            if "${" in body:
                raise ExpressionError("nested `${` inside an expression; expressions cannot be nested", i)
            if literal:
                out.append("".join(literal))
                literal = []
            out.append(Reference(_parse_path(body, i), i, text[i : end + 1]))
            i = end + 1
            continue
        literal.append(text[i])
        i += 1
    if literal:
        out.append("".join(literal))
    return out


def references(value: Any) -> Iterator[Reference]:
    """Every reference in a JSON-like template (strings inside dicts and lists)."""
    if isinstance(value, str):
        for part in parse(value):
            if isinstance(part, Reference):
                yield part
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def _lookup(scope: Mapping[str, Any], ref: Reference) -> Any:
    current: Any = scope
    for n, part in enumerate(ref.path):
        where = ".".join(ref.path[: n + 1])
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise EvaluationError(f"{ref.text}: {where} does not exist")
    return current


def render(template: Any, scope: Mapping[str, Any]) -> Any:
    """``template`` with every expression replaced from ``scope`` (``{"input": ..., "steps": {id: {"output":
    ...}}}``); raises EvaluationError for a missing value."""
    if isinstance(template, str):
        parts = parse(template)
        if len(parts) == 1 and isinstance(parts[0], Reference):
            return _lookup(scope, parts[0])
        rendered = []
        for part in parts:
            if isinstance(part, Reference):
                value = _lookup(scope, part)
                rendered.append(value if isinstance(value, str) else json.dumps(value))
            else:
                rendered.append(part)
        return "".join(rendered)
    if isinstance(template, Mapping):
        return {key: render(item, scope) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, scope) for item in template]
    return template
