"""OTLP trace requests (``ExportTraceServiceRequest``) written straight to protobuf's wire format.

The OTLP exporter builds a protobuf object per span, per attribute and per value before serializing them, and
hashes the resource (a JSON dump of its attributes) once per span: about 30 us a span, paid in the exporter's
thread while it holds the GIL the event loop needs. Spans as txcoord makes them (string, bool, int and float
attributes, no links, no trace state) are written here in a few microseconds; any other span (an exception
event, links, list attributes, dropped counts) is encoded by the SDK's own encoder and embedded as it is, so the
request is the same message either way (the tests compare both decoded)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# field tags (field number << 3 | wire type): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
_REQUEST_RESOURCE_SPANS = b"\x0a"  # ExportTraceServiceRequest.resource_spans = 1
_RESOURCE = b"\x0a"  # ResourceSpans.resource = 1
_SCOPE_SPANS = b"\x12"  # ResourceSpans.scope_spans = 2
_SCHEMA_URL_3 = b"\x1a"  # ResourceSpans.schema_url = 3, ScopeSpans.schema_url = 3
_SCOPE = b"\x0a"  # ScopeSpans.scope = 1
_SPANS = b"\x12"  # ScopeSpans.spans = 2
_TRACE_ID = b"\x0a\x10"  # Span.trace_id = 1, 16 bytes
_SPAN_ID = b"\x12\x08"  # Span.span_id = 2, 8 bytes
_PARENT_SPAN_ID = b"\x22\x08"  # Span.parent_span_id = 4, 8 bytes
_NAME = b"\x2a"  # Span.name = 5
_KIND = b"\x30"  # Span.kind = 6
_START = b"\x39"  # Span.start_time_unix_nano = 7, fixed64
_END = b"\x41"  # Span.end_time_unix_nano = 8, fixed64
_ATTRIBUTE = b"\x4a"  # Span.attributes = 9
_STATUS = b"\x7a"  # Span.status = 15
_FLAGS = b"\x85\x01"  # Span.flags = 16, fixed32
_STATUS_MESSAGE = b"\x12"  # Status.message = 2
_STATUS_CODE = b"\x18"  # Status.code = 3
_KEY = b"\x0a"  # KeyValue.key = 1
_VALUE = b"\x12"  # KeyValue.value = 2
_STRING = b"\x0a"  # AnyValue.string_value = 1
_BOOL = b"\x10"  # AnyValue.bool_value = 2
_INT = b"\x18"  # AnyValue.int_value = 3
_DOUBLE = b"\x21"  # AnyValue.double_value = 4, fixed64

# SpanFlags: the parent's is-remote bit is known (always), and set when the parent came from another process
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE_BYTES = struct.Struct("<d").pack
_FIXED32 = struct.Struct("<I").pack
_EMPTY_STATUS = _STATUS + b"\x00"
# a record's fixed-size fields in one pack each: the ids (trace id as two big-endian halves), the times, the flags
_IDS = struct.Struct(">2sQQ2sQ").pack
_PARENT = struct.Struct(">2sQ").pack
_TIMES = struct.Struct("<1sQ1sQ").pack
_LOW64 = (1 << 64) - 1
_ERROR_CODE = _STATUS_CODE + b"\x02"  # STATUS_CODE_ERROR
_LOCAL_FLAGS = _FLAGS + _FIXED32(_HAS_IS_REMOTE)
_REMOTE_FLAGS = _FLAGS + _FIXED32(_HAS_IS_REMOTE | _IS_REMOTE)
_MAX_CACHED_KEYS = 256  # attribute keys are names in code, but a bound keeps a stray dynamic key harmless
_MAX_CACHED_VALUES = 64  # per key: methods, services, status codes; never every gid
_CACHED_TYPES = (str, bool, int)
_MAX_CACHED_DESCRIPTIONS = 4096  # records' (name, kind, attributes): statement summaries times databases


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64: two's complement, ten bytes
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = 4096  # a span message's length is below this: its varint is looked up
_SMALL_VARINTS = [_varint(n) for n in range(_SMALL)]


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


class TraceRequestEncoder:
    """``encode(spans)``: the serialized ``ExportTraceServiceRequest`` for a batch of finished SDK spans."""

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.common._internal import (
            _encode_instrumentation_scope,
            _encode_resource,
        )
        from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _SPAN_KIND_MAP, _encode_span

        self._sdk_span: Callable[[Any], Any] = _encode_span
        self._sdk_resource: Callable[[Any], Any] = _encode_resource
        self._sdk_scope: Callable[[Any], Any] = _encode_instrumentation_scope
        self._kinds = {kind: _KIND + _varint(int(value)) for kind, value in _SPAN_KIND_MAP.items()}
        self._kinds_by_value = {
            kind._value_: encoded for kind, encoded in self._kinds.items()
        }  # hashing an Enum is slow
        # attribute key -> (type, value) -> its encoded field: "rpc.method" has a few values, "txc.gid" fills its
        # share once and is encoded each time after that
        self._pairs: dict[str, dict[tuple[type, Any], bytes]] = {}
        self._described: dict[tuple[str, int, tuple[tuple[str, Any], ...]], bytes] = {}  # records' name/attributes
        self._resources: dict[int, tuple[Any, bytes]] = {}  # id(resource) -> (resource, its encoded field)
        self._scopes: dict[int, tuple[Any, bytes]] = {}

    def encode(self, spans: Sequence[Any]) -> bytes:
        # grouped like the SDK's encoder: by resource, then by instrumentation scope, in order of appearance
        groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
        for span in spans:
            resource = span.resource
            scope = span.instrumentation_scope or None
            by_scope = groups.setdefault(id(resource), (resource, {}))[1]
            by_scope.setdefault(id(scope), (scope, []))[1].append(self._span(span))
        out = []
        for resource, by_scope in groups.values():
            body = [self._resource(resource)]
            for scope, encoded in by_scope.values():
                scope_spans = [self._scope(scope), *(_field(_SPANS, s) for s in encoded)]
                if scope is not None and scope.schema_url:
                    scope_spans.append(_field(_SCHEMA_URL_3, scope.schema_url.encode()))
                body.append(_field(_SCOPE_SPANS, b"".join(scope_spans)))
            if resource.schema_url:
                body.append(_field(_SCHEMA_URL_3, resource.schema_url.encode()))
            out.append(_field(_REQUEST_RESOURCE_SPANS, b"".join(body)))
        return b"".join(out)

    def encode_records(self, resource: Any, scope: Any, records: Sequence[Any]) -> bytes:
        """The request for a batch of ``SpanRecord`` s (``sdk.observability.span_records``) of one resource and
        scope. A hot path's spans repeat a few names and attribute sets: each is encoded once."""
        described = self._described
        spans: list[bytes] = []  # tag, length, span message: joined once for the whole request
        append = spans.append
        for record in records:
            key = (record.name, record.kind._value_, record.attributes)
            middle = described.get(key)
            if middle is None:
                middle = self._description(record)
                if len(described) >= _MAX_CACHED_DESCRIPTIONS:
                    described.clear()  # spans whose attributes name a gid never repeat: start again
                described[key] = middle
            parent = record.parent_span_id
            if record.error is None:
                status = _EMPTY_STATUS
            else:
                message = record.error.encode()
                status = _field(_STATUS, _STATUS_MESSAGE + _varint(len(message)) + message + _ERROR_CODE)
            body = b"".join((
                _IDS(_TRACE_ID, record.trace_id >> 64, record.trace_id & _LOW64, _SPAN_ID, record.span_id),
                _PARENT(_PARENT_SPAN_ID, parent) if parent else b"",
                middle,
                _TIMES(_START, record.start_time, _END, record.end_time),
                status,
                _REMOTE_FLAGS if parent and record.parent_is_remote else _LOCAL_FLAGS,
            ))  # fmt: skip
            append(_SPANS)
            size = len(body)
            append(_SMALL_VARINTS[size] if size < _SMALL else _varint(size))
            append(body)
        scope_spans = [self._scope(scope), *spans]
        if scope is not None and scope.schema_url:
            scope_spans.append(_field(_SCHEMA_URL_3, scope.schema_url.encode()))
        request = [self._resource(resource), _field(_SCOPE_SPANS, b"".join(scope_spans))]
        if resource.schema_url:
            request.append(_field(_SCHEMA_URL_3, resource.schema_url.encode()))
        return _field(_REQUEST_RESOURCE_SPANS, b"".join(request))

    def _description(self, record: Any) -> bytes:
        """A record's name, kind and attributes, encoded (fields may come in any order on the wire)."""
        parts = [_field(_NAME, record.name.encode())] if record.name else []
        parts.append(self._kinds_by_value[record.kind._value_])
        attributes = self._attributes(record.attributes)
        if attributes is None:
            raise TypeError(f"span {record.name!r}: an attribute is not a str, bool, int or float")
        parts += attributes
        return b"".join(parts)

    def _resource(self, resource: Any) -> bytes:
        cached = self._resources.get(id(resource))
        if cached is None or cached[0] is not resource:
            cached = self._resources[id(resource)] = (
                resource,
                _field(_RESOURCE, self._sdk_resource(resource).SerializeToString()),
            )
        return cached[1]

    def _scope(self, scope: Any) -> bytes:
        if scope is None:
            return _SCOPE + b"\x00"  # the SDK sends an empty scope
        cached = self._scopes.get(id(scope))
        if cached is None or cached[0] is not scope:
            cached = self._scopes[id(scope)] = (scope, _field(_SCOPE, self._sdk_scope(scope).SerializeToString()))
        return cached[1]

    def _span(self, span: Any) -> bytes:
        context = span.context
        if (
            span.events
            or span.links
            or context.trace_state
            or span.dropped_attributes
            or span.dropped_events
            or span.dropped_links
        ):
            return bytes(self._sdk_span(span).SerializeToString())
        attributes = self._attributes((span.attributes or {}).items())
        if attributes is None:  # a value of another type (a list): the SDK knows how
            return bytes(self._sdk_span(span).SerializeToString())
        parent = span.parent
        parts = [_TRACE_ID, context.trace_id.to_bytes(16, "big"), _SPAN_ID, context.span_id.to_bytes(8, "big")]
        if parent is not None:
            parts += (_PARENT_SPAN_ID, parent.span_id.to_bytes(8, "big"))
        if span.name:
            parts.append(_field(_NAME, span.name.encode()))
        parts += (self._kinds[span.kind], _START, _FIXED64(span.start_time), _END, _FIXED64(span.end_time))
        parts += attributes
        status = span.status
        code = int(status.status_code.value)
        encoded_status = (
            _STATUS_MESSAGE + _varint(len(m)) + m if (m := (status.description or "").encode()) else b""
        ) + (_STATUS_CODE + _varint(code) if code else b"")
        parts.append(_field(_STATUS, encoded_status))
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
        parts += (_FLAGS, _FIXED32(flags))
        return b"".join(parts)

    def _attributes(self, pairs: Iterable[tuple[str, Any]]) -> list[bytes] | None:
        out = []
        for key, value in pairs:
            by_value = self._pairs.get(key)
            if by_value is None:
                by_value = {} if len(self._pairs) >= _MAX_CACHED_KEYS else self._pairs.setdefault(key, {})
            # bool is an int: typed keys keep True and 1 apart
            encoded = by_value.get((type(value), value)) if type(value) in _CACHED_TYPES else None
            if encoded is None:
                encoded = self._attribute(key, value)
                if encoded is None:
                    return None
                if type(value) in _CACHED_TYPES and len(by_value) < _MAX_CACHED_VALUES:
                    by_value[(type(value), value)] = encoded
            out.append(encoded)
        return out

    @staticmethod
    def _attribute(key: str, value: Any) -> bytes | None:
        """The encoded ``Span.attributes`` field of one attribute; None for a value of another type (a list)."""
        if isinstance(value, str):
            data = value.encode()
            encoded_value = _STRING + _varint(len(data)) + data
        elif isinstance(value, bool):
            encoded_value = _BOOL + (b"\x01" if value else b"\x00")
        elif isinstance(value, int) and -(1 << 63) <= value < 1 << 63:
            encoded_value = _INT + _varint(value)
        elif isinstance(value, float):
            encoded_value = _DOUBLE + _DOUBLE_BYTES(value)
        else:
            return None
        pair = _field(_KEY, key.encode()) + _VALUE + _varint(len(encoded_value)) + encoded_value
        return _ATTRIBUTE + _varint(len(pair)) + pair
