"""The saga's DAG as Mermaid text (``txc saga graph``), optionally with each step's state (``txc saga show``)."""

from __future__ import annotations

from collections.abc import Mapping

from sdk.saga.model import RecoveryMode, SagaDefinition

_CLASSES = {
    "SUCCEEDED": "fill:#c8f7c5",
    "RUNNING": "fill:#fff3b0",
    "FAILED": "fill:#f7c5c5",
    "COMPENSATING": "fill:#ffd8a8",
    "COMPENSATED": "fill:#d0d0d0",
}


def mermaid(saga: SagaDefinition, states: Mapping[str, str] | None = None) -> str:
    lines = [f"%% saga {saga.name} v{saga.version}", "flowchart TD"]
    for step in saga.steps:
        label = f"{step.id}<br/>{step.action}"
        if step.compensate is not None:
            label += f"<br/>undo: {step.compensate}"
        if step.recovery is RecoveryMode.FORWARD:
            label += "<br/>(forward)"
        if states and step.id in states:
            label += f"<br/>[{states[step.id]}]"
        lines.append(f'    {step.id}["{label}"]')
    for step in saga.steps:
        for dep in step.after:
            lines.append(f"    {dep} --> {step.id}")
    if states:
        used = sorted({s for s in states.values() if s in _CLASSES})
        for state in used:
            lines.append(f"    classDef {state.lower()} {_CLASSES[state]}")
        for step_id, state in states.items():
            if state in _CLASSES:
                lines.append(f"    class {step_id} {state.lower()}")
    return "\n".join(lines) + "\n"
