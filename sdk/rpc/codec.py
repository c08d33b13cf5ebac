"""JSON bodies for generic invocation: any action is callable with a JSON payload, no generated stubs."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_json(value: Any) -> bytes:
    return _encoder.encode(value).encode()


def decode_json(data: bytes) -> Any:
    return json.loads(data) if data else None


def method_path(service: str, action: str) -> str:
    """The gRPC method path of a generic action: ``/{service}/{action}``."""
    return f"/{service}/{action}"
