"""JSON bodies <-> the gRPC services' protobuf messages, and their JSON Schema for the OpenAPI document.

Field names are the proto names. Proto3's JSON mapping is followed except for one thing: a ``bytes`` field
named ``X_json`` (a transaction's ``payload_json``, a saga's ``input_json``) is the JSON value itself under the
name ``X`` (``payload``, ``input``), so a caller writes JSON, not base64 of JSON."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_JSON_SUFFIX = "_json"
_NUMBERS = {
    FieldDescriptor.TYPE_DOUBLE: ("number", None),
    FieldDescriptor.TYPE_FLOAT: ("number", None),
    FieldDescriptor.TYPE_INT32: ("integer", "int32"),
    FieldDescriptor.TYPE_SINT32: ("integer", "int32"),
    FieldDescriptor.TYPE_SFIXED32: ("integer", "int32"),
    FieldDescriptor.TYPE_UINT32: ("integer", "int32"),
    FieldDescriptor.TYPE_FIXED32: ("integer", "int32"),
}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}


# The stubs tell protobuf's pure-Python descriptors from its C (upb) ones; both have what is used here.
Field = Any
MessageDescriptor = Any


class BadBody(ValueError):
    """The body does not fit the request message; the message names the field."""


def _is_json_bytes(field: Field) -> bool:
    return field.type == FieldDescriptor.TYPE_BYTES and field.name.endswith(_JSON_SUFFIX)


def _is_map(field: Field) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _repeated(field: Field) -> bool:
    return bool(field.is_repeated)


def _to_proto_json(descriptor: MessageDescriptor, body: Any, where: str) -> dict[str, Any]:
    """``body`` in proto3's JSON mapping (JSON values of ``X_json`` fields encoded), refusing unknown names."""
    if not isinstance(body, dict):
        raise BadBody(f"{where or 'body'}: must be a JSON object")
    fields = {f.name: f for f in descriptor.fields}
    json_fields = {f.name[: -len(_JSON_SUFFIX)]: f for f in descriptor.fields if _is_json_bytes(f)}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = f"{where}.{key}" if where else str(key)
        if key in json_fields:
            try:
                text = json.dumps(value, allow_nan=False, separators=(",", ":"))
            except ValueError as exc:
                raise BadBody(f"{name}: not representable as JSON ({exc})") from exc
            out[json_fields[key].json_name] = _b64(text.encode())
            continue
        field = fields.get(key)
        if field is None or _is_json_bytes(field):
            raise BadBody(f"{name[:80]}: unknown field")
        if _is_map(field):
            _check_map(field, value, name)
            out[key] = value
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if _repeated(field):
                if not isinstance(value, list):
                    raise BadBody(f"{name}: must be an array")
                out[key] = [_to_proto_json(field.message_type, v, f"{name}[{i}]") for i, v in enumerate(value)]
            else:
                out[key] = _to_proto_json(field.message_type, value, name)
        else:
            _check_scalar(field, value, name)
            out[key] = value
    return out


def _check_map(field: Field, value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise BadBody(f"{name}: must be a JSON object")
    value_field = field.message_type.fields_by_name["value"]
    for key, item in value.items():
        _check_scalar(value_field, item, f"{name}.{str(key)[:40]}")


def _check_scalar(field: Field, value: Any, name: str) -> None:
    """What ParseDict would accept loosely (a string for a number, a float for an int) or report without the
    field's name is refused here, naming it."""
    values = value if _repeated(field) and isinstance(value, list) else [value]
    if _repeated(field) and not isinstance(value, list):
        raise BadBody(f"{name}: must be an array")
    for item in values:
        if field.type == FieldDescriptor.TYPE_STRING and not isinstance(item, str):
            raise BadBody(f"{name}: must be a string")
        if field.type == FieldDescriptor.TYPE_BOOL and not isinstance(item, bool):
            raise BadBody(f"{name}: must be true or false")
        if field.type in _NUMBERS or field.type in _INT64:
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise BadBody(f"{name}: must be a number")
            if isinstance(item, float) and not math.isfinite(item):
                raise BadBody(f"{name}: must be a finite number")
            if _NUMBERS.get(field.type, ("integer",))[0] == "integer" and item != int(item):
                raise BadBody(f"{name}: must be an integer")
            if field.type in _NUMBERS and _NUMBERS[field.type][1] == "int32" and not -(2**31) <= item < 2**31:
                raise BadBody(f"{name}: out of range")
            if field.type in _INT64 and not -(2**63) <= item < 2**63:
                raise BadBody(f"{name}: out of range")
            if field.type == FieldDescriptor.TYPE_FLOAT and abs(item) > 3.4e38:
                raise BadBody(f"{name}: out of range")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def parse(message_class: type[Message], body: Any, path_fields: dict[str, str]) -> Message:
    """The request message for ``body`` plus the fields taken from the URL path; BadBody naming the field."""
    if not isinstance(body, dict):
        raise BadBody("body: must be a JSON object")
    for key in path_fields:
        if key in body and body[key] != path_fields[key]:
            raise BadBody(f"{key}: given in the path and differently in the body")
    merged = {**body, **path_fields}
    proto_json = _to_proto_json(message_class.DESCRIPTOR, merged, "")
    try:
        return json_format.ParseDict(proto_json, message_class())
    except json_format.ParseError as exc:
        raise BadBody(str(exc)[:300]) from exc


def render(message: Message) -> dict[str, Any]:
    """The reply as JSON: every field present (defaults included), ``X_json`` bytes as the JSON value ``X``."""
    return _render(message)


def _render(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields: list[Field] = list(message.DESCRIPTOR.fields)
    for field in fields:
        value = getattr(message, field.name)
        if _is_json_bytes(field):
            out[field.name[: -len(_JSON_SUFFIX)]] = json.loads(value) if value else None
        elif _is_map(field):
            out[field.name] = dict(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if _repeated(field):
                out[field.name] = [_render(v) for v in value]
            else:
                out[field.name] = _render(value) if message.HasField(field.name) else None
        elif field.type in _INT64:
            out[field.name] = [int(v) for v in value] if _repeated(field) else int(value)
        elif field.type == FieldDescriptor.TYPE_BYTES:
            out[field.name] = _b64(value)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type.values_by_number
            out[field.name] = enum[value].name if value in enum else value
        else:
            out[field.name] = list(value) if _repeated(field) else value
    return out


def schema(descriptor: MessageDescriptor, *, request: bool, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """JSON Schema of a message as ``parse`` takes it (``request``) or ``render`` gives it."""
    properties: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name in skip:
            continue
        if _is_json_bytes(field):
            name = field.name[: -len(_JSON_SUFFIX)]
            properties[name] = {"description": "any JSON value"} if request else {}
            continue
        properties[field.name] = _field_schema(field, request=request)
    result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if not request:
        result["required"] = sorted(properties)
    return result


def _field_schema(field: Field, *, request: bool) -> dict[str, Any]:
    if _is_map(field):
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _scalar(value)}
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        one = schema(field.message_type, request=request)
        if not request and not _repeated(field):
            one = {"anyOf": [one, {"type": "null"}]}
    else:
        one = _scalar(field)
    return {"type": "array", "items": one} if _repeated(field) else one


def _scalar(field: Field) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if field.type == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type in _NUMBERS:
        if _NUMBERS[field.type][0] == "integer":
            return {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
        return {"type": "number"}
    if field.type in _INT64:
        return {"type": "integer", "format": "int64"}
    if field.type == FieldDescriptor.TYPE_ENUM:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    return {"type": "string", "format": "byte"}
