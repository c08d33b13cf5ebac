"""A saga's DAG laid out on the server, drawn as SVG by the ``dag.svg`` template.

Steps go in rows by depth (the longest chain of ``after`` before them), left to right in their order of
definition; an edge runs from the bottom of a dependency to the top of its dependant. The layout is plain
numbers; every text reaches the page through the template, so Jinja2 escapes it (SVG is XML: a step id or an
error text is never markup)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sdk._proto import saga_pb2
from sdk.saga import Step

NODE_WIDTH = 190
NODE_HEIGHT = 58
GAP_X = 30
GAP_Y = 44
MARGIN = 12
LABEL_CHARS = 26  # a longer id or action is cut on the drawing (the table beside it shows all of it)

# A state's fill and its name (the name is also a CSS class and a data attribute, which tests read).
FAILED_STROKE = "#b00020"
STATE_FILL = {
    "PENDING": "#eeeeee",
    "RUNNING": "#fff3b0",
    "SUCCEEDED": "#c8f7c5",
    "FAILED": "#f4a6a6",
    "COMPENSATING": "#ffd8a8",
    "COMPENSATED": "#b9c8f5",
    "": "#ffffff",  # a definition: no state
}


@dataclass(frozen=True)
class StepShape:
    """A step as the drawing needs it: what it is, what it waits for, and its state ("" for a definition)."""

    id: str
    action: str
    compensate: str
    after: tuple[str, ...]
    state: str = ""
    # its action failed for good (an error and no completion): drawn with a red border whatever its state
    # now, since a failed step is compensated too (its action may have been applied before the failure)
    failed: bool = False


@dataclass(frozen=True)
class Box:
    step: StepShape
    x: int
    y: int
    fill: str

    @property
    def id_label(self) -> str:
        return _cut(self.step.id)

    @property
    def action_label(self) -> str:
        return _cut(self.step.action)

    @property
    def undo_label(self) -> str:
        return _cut("undo: " + self.step.compensate) if self.step.compensate else ""


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    boxes: list[Box]
    edges: list[Edge]


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _depths(steps: Sequence[StepShape]) -> dict[str, int]:
    by_id = {s.id: s for s in steps}
    depth: dict[str, int] = {}

    def visit(step_id: str, seen: frozenset[str]) -> int:
        if step_id in depth:
            return depth[step_id]
        step = by_id[step_id]
        # a cycle or an unknown dependency cannot be drawn in rows: it counts as no dependency
        parents = [p for p in step.after if p in by_id and p not in seen]
        depth[step_id] = 1 + max((visit(p, seen | {step_id}) for p in parents), default=-1)
        return depth[step_id]

    for s in steps:
        visit(s.id, frozenset())
    return depth


def layout(steps: Sequence[StepShape]) -> Layout:
    depth = _depths(steps)
    rows: dict[int, list[StepShape]] = {}
    for s in steps:
        rows.setdefault(depth[s.id], []).append(s)
    widest = max((len(r) for r in rows.values()), default=0)
    boxes: dict[str, Box] = {}
    for level, row in rows.items():
        for column, s in enumerate(row):
            x = MARGIN + column * (NODE_WIDTH + GAP_X)
            y = MARGIN + level * (NODE_HEIGHT + GAP_Y)
            boxes[s.id] = Box(s, x, y, STATE_FILL.get(s.state, STATE_FILL[""]))
    edges = [
        Edge(
            boxes[p].x + NODE_WIDTH // 2,
            boxes[p].y + NODE_HEIGHT,
            boxes[s.id].x + NODE_WIDTH // 2,
            boxes[s.id].y,
        )
        for s in steps
        for p in s.after
        if p in boxes
    ]
    width = 2 * MARGIN + max(widest * (NODE_WIDTH + GAP_X) - GAP_X, 0)
    height = 2 * MARGIN + max(len(rows) * (NODE_HEIGHT + GAP_Y) - GAP_Y, 0)
    return Layout(width, height, list(boxes.values()), edges)


def shapes_of_definition(steps: Sequence[Step]) -> list[StepShape]:
    """A parsed definition's steps as shapes without state."""
    return [StepShape(s.id, str(s.action), str(s.compensate) if s.compensate else "", tuple(s.after)) for s in steps]


def shapes_of_instance(steps: Sequence[saga_pb2.StepInfo]) -> list[StepShape]:
    """A saga instance's steps as shapes coloured by their state."""
    return [
        StepShape(
            s.step_id,
            s.action,
            s.compensate,
            tuple(s.after),
            s.state,
            failed=s.state == "FAILED" or (bool(s.last_error) and s.completion_order == 0 and s.attempts > 0),
        )
        for s in steps
    ]
