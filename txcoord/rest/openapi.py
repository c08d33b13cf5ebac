"""The OpenAPI 3 document of the REST API, built from the routes and the protobuf messages (so it cannot
drift from what the handlers take); ``docs/openapi.json`` is this document, checked by a test."""

from __future__ import annotations

from typing import Any

from txcoord.rest.messages import schema
from txcoord.rest.routes import ROUTES

_ERROR = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "error": {"type": "string"}},
    "required": ["code", "error"],
}
_STATUSES = {
    "400": "invalid input (the message names the field)",
    "401": "no credential",
    "403": "the credential may not do this",
    "404": "not found",
    "409": "conflict (already exists, or not in a state that allows it)",
    "422": "refused (failed precondition)",
    "503": "the coordinator's store is unavailable: retry",
}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        fields = route.path_fields
        operation: dict[str, Any] = {
            "operationId": route.method,
            "summary": route.summary,
            "x-grpc-method": route.grpc_path,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                for name in fields
            ],
            "responses": {
                "200": {
                    "description": "done",
                    "content": {"application/json": {"schema": schema(route.reply.DESCRIPTOR, request=False)}},
                },
                **{
                    status: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
                    for status, text in _STATUSES.items()
                },
            },
        }
        if route.http_method == "POST":
            request_schema = schema(route.request.DESCRIPTOR, request=True, skip=frozenset(fields))
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": request_schema}},
            }
        operation["security"] = [{}, {"bearer": []}]
        paths.setdefault(route.path, {})[route.http_method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "txcoord coordinator REST API",
            "version": "1",
            "description": "HTTP/JSON front of the coordinator's gRPC services (docs/http.md).",
        },
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


if __name__ == "__main__":  # python -m txcoord.rest.openapi > docs/openapi.json
    import json

    print(json.dumps(openapi_document(), indent=2))
