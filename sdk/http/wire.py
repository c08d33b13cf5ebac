"""The HTTP/JSON contract between the coordinator (or any caller) and a participant (docs/http.md).

A participant registered with protocol ``http`` has a base URL as its address. Each generic action is
``POST {base}/{action}``: ``debit`` (try), ``debit.confirm``, ``debit.cancel``, a saga step's action or
compensation, and ``txc.phase2`` (batched phase 2, optional). The body is the action's arguments (a JSON
object); the branch travels in headers:

====================  ===================================================================================
``Txc-Gid``           the global transaction id
``Txc-Branch-Id``     the branch id (a saga step's id)
``Txc-Branch-Signature``  the coordinator's branch signature (``sdk.branch_mac``)
``Txc-Step-Output``   a saga compensation only: the action's recorded output, as JSON
``traceparent``       W3C trace context
====================  ===================================================================================

The batch path keeps the gRPC shape: body ``{"items": [{"action", "op", "gid", "branch_id", "args", "mac"}]}``,
answer ``{"results": [...]}``. A success is 200 with ``{"result": ..., "barrier": ...}`` (and a try's ``"receipt"``,
``sdk.branch_mac``); a failure is a status
below with ``{"code": "<one of the error vocabulary>", "error": "<message>"}``. The status alone decides when
``code`` is absent, so a participant in another language only has to pick the right status."""

from __future__ import annotations

import json
from typing import Any

import grpc

GID_HEADER = "txc-gid"
BRANCH_HEADER = "txc-branch-id"
SIGNATURE_HEADER = "txc-branch-signature"
OUTPUT_HEADER = "txc-step-output"
TRACEPARENT_HEADER = "traceparent"
PROTOCOL_KEY = "protocol"  # registry endpoint metadata: "grpc" (the default) or "http"
HTTP = "http"
GRPC = "grpc"

#: one error vocabulary, two transports: the status each code travels as over HTTP
STATUS_OF: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,  # invalid: never retried
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,  # e.g. a missing or forged branch signature
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNIMPLEMENTED: 404,  # no such action
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,  # the barrier refused the phase: not retried
    grpc.StatusCode.FAILED_PRECONDITION: 422,  # a business refusal (a try that said no): not retried
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,  # retryable: confirm/cancel are retried until they succeed
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

#: what a status means when the body names no code (a participant that only sets the status)
CODE_OF_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    422: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

_CODES = {code.name: code for code in grpc.StatusCode}


def status_of(code: grpc.StatusCode) -> int:
    return STATUS_OF.get(code, 500)


def code_of(status: int, body: Any) -> grpc.StatusCode:
    """The error vocabulary's code for a failed HTTP answer: the body's ``code`` if it names one, else the
    status's (any other 4xx is invalid input, any other 5xx retryable)."""
    named = _CODES.get(str(body.get("code"))) if isinstance(body, dict) else None
    if named is not None and named is not grpc.StatusCode.OK:
        return named
    if status in CODE_OF_STATUS:
        return CODE_OF_STATUS[status]
    return grpc.StatusCode.INVALID_ARGUMENT if 400 <= status < 500 else grpc.StatusCode.INTERNAL


def error_body(code: grpc.StatusCode, message: str) -> dict[str, str]:
    return {"code": code.name, "error": message}


def is_http_address(address: str) -> bool:
    """Whether a registry address is an HTTP participant's base URL (else a gRPC host:port)."""
    return address.startswith(("http://", "https://"))


def split_envelope(body: Any) -> tuple[dict[str, str], Any]:
    """A gRPC-style envelope (``gid``, ``branch_id``, ``args``, ``mac``, ``output``) as HTTP headers and body;
    anything else (the batch body, a plain call) travels as it is."""
    if not isinstance(body, dict) or not isinstance(body.get("gid"), str) or "items" in body:
        return {}, body
    headers = {GID_HEADER: body["gid"], BRANCH_HEADER: str(body.get("branch_id", ""))}
    if body.get("mac"):
        headers[SIGNATURE_HEADER] = str(body["mac"])
    if "output" in body:
        headers[OUTPUT_HEADER] = json.dumps(body["output"], separators=(",", ":"), ensure_ascii=True)
    return headers, body.get("args", {})


def join_envelope(headers: Any, body: Any) -> Any:
    """The envelope the sdk's handlers take, from an HTTP request's headers (a case-insensitive mapping) and
    body; with no ``Txc-Gid`` header the body is passed as it is (the batch path)."""
    gid = headers.get(GID_HEADER)
    if gid is None:
        return body
    envelope: dict[str, Any] = {"gid": gid, "branch_id": headers.get(BRANCH_HEADER, ""), "args": body}
    signature = headers.get(SIGNATURE_HEADER)
    if signature is not None:
        envelope["mac"] = signature
    output = headers.get(OUTPUT_HEADER)
    if output is not None:
        try:
            envelope["output"] = json.loads(output)
        except ValueError as exc:
            raise ValueError(f"{OUTPUT_HEADER}: not valid JSON ({exc})") from exc
    return envelope
