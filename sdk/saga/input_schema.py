"""The saga's ``input`` declaration: a small JSON-Schema subset, checked when an instance starts."""

from __future__ import annotations

from typing import Any

TYPES = ("object", "string", "number", "integer", "boolean", "array", "null")
KEYS = ("type", "properties", "required", "items", "enum", "description", "minimum", "maximum")


def _type_ok(kind: str, value: Any) -> bool:
    match kind:
        case "object":
            return isinstance(value, dict)
        case "string":
            return isinstance(value, str)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "array":
            return isinstance(value, list)
        case "null":
            return value is None
    return False


def validate_input(schema: dict[str, Any] | None, value: Any, where: str = "input") -> list[str]:
    """What is wrong with ``value`` against ``schema`` (empty when it fits)."""
    if not schema:
        return []
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None and not _type_ok(kind, value):
        return [f"{where}: expected {kind}, got {type(value).__name__} {_short(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: expected one of {schema['enum']}, got {_short(value)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: must be <= {schema['maximum']}, got {value}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}.{name}: required")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                errors.extend(validate_input(sub, value[name], f"{where}.{name}"))
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            errors.extend(validate_input(schema["items"], item, f"{where}.{n}"))
    return errors


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
