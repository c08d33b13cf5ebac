"""The coordinator's REST API: a thin HTTP/JSON front on the same servicers as the gRPC one.

Each route (``txcoord.rest.routes``) parses its body into the gRPC request message, checks the caller against
the method's rule in the one authorization table (``sdk.rpc.authorization``) with the same identities as the
gRPC server, and calls the servicer's method itself; a refusal it makes (``context.abort``) comes back as the
HTTP status of its code (``sdk.http.wire``) with ``{"code", "error"}``. Anything else a servicer raises is
answered as ``txcoord.engine.answers.failure`` answers it on the gRPC front: a store outage is 503 UNAVAILABLE
(retryable, one log line per outage), a coordinator error its own status, a bug 500 INTERNAL; always JSON."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sdk.http.wire import TRACEPARENT_HEADER, error_body, status_of
from sdk.observability.metrics_http import metrics_enabled
from sdk.observability.rpc_metrics import Timings, split_method
from sdk.observability.tracing import start_span, tracing_enabled
from sdk.rpc.authorization import Rule, current_identity, needs_no_credential, wrong_identity
from sdk.rpc.context import current_traceparent, txn_context
from sdk.rpc.identities import Identities, Identity
from txcoord.engine.answers import failure
from txcoord.rest.messages import BadBody, parse, render
from txcoord.rest.openapi import openapi_document
from txcoord.rest.routes import ROUTES, RestRoute

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024
_BEARER = "Bearer "


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class RestContext:
    """What the servicers use of ``grpc.aio.ServicerContext``: ``abort`` (raises :class:`Refused`)."""

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise Refused(code, details)

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def peer(self) -> str:
        return "rest"


def _error(code: grpc.StatusCode, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message[:500]), status_code=status_of(code))


def authorize(
    identities: Identities, rule: Rule | None, method: str, headers: Mapping[str, str], *, loopback: bool = False
) -> Identity | None:
    """The caller's identity for ``method`` under its rule, as the gRPC interceptor decides it (a token in
    ``Authorization: Bearer``; ``loopback``: the REST listener is on loopback only); Refused when it may not
    call. None: security off, or a method that needs no credential."""
    if not identities.enabled:
        return None
    if rule is None:
        raise Refused(grpc.StatusCode.PERMISSION_DENIED, f"{method}: no authorization rule; refused")
    if needs_no_credential(rule, loopback):
        return None
    header = headers.get("authorization")
    if header is None:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, f"{method}: needs a credential (Authorization: Bearer TOKEN)")
    identity = identities.by_token(header[len(_BEARER) :] if header.startswith(_BEARER) else header)
    if identity is None:
        raise Refused(grpc.StatusCode.PERMISSION_DENIED, f"{method}: the token given is not valid")
    why = wrong_identity(rule, identity, method)
    if why is not None:
        raise Refused(grpc.StatusCode.PERMISSION_DENIED, why)
    return identity


async def _one(message: Message) -> AsyncIterator[Message]:
    yield message


class RestApi:
    """``servicers``: full gRPC service name -> servicer object (as the gRPC server holds them)."""

    def __init__(
        self, servicers: Mapping[str, Any], rules: Mapping[str, Rule], identities: Identities, *, loopback: bool = False
    ) -> None:
        self.servicers = servicers
        self.rules = rules
        self.identities = identities
        self.loopback = loopback  # the listener is on loopback only: read-only methods need no credential
        self.document = openapi_document()
        routes = [
            Route(route.path, self._endpoint(route), methods=[route.http_method])
            for route in ROUTES
            if route.service in servicers
        ]
        routes.append(Route("/openapi.json", self._openapi, methods=["GET"]))
        self.app = Starlette(routes=routes)

    async def _openapi(self, _request: Request) -> Response:
        return JSONResponse(self.document)

    def _endpoint(self, route: RestRoute) -> Any:
        answer = self._answer(route)
        timings = Timings("rest") if metrics_enabled() else None
        name = f"{route.http_method} {route.path}"  # the span's name: method and route, never the path's values
        service, method = split_method(route.grpc_path)
        attributes = {"http.request.method": route.http_method, "http.route": route.path, "rpc.service": service,
                      "rpc.method": method}  # fmt: skip

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            if tracing_enabled():
                parent = request.headers.get(TRACEPARENT_HEADER)
                with start_span(name, kind="server", attributes=attributes, traceparent=parent) as span:
                    code, response = await answer(request)
                    span.set_attribute("http.response.status_code", response.status_code)
            else:
                code, response = await answer(request)
            if timings is not None:
                timings.observe(route.grpc_path, code, time.perf_counter() - started)
            return response

        return endpoint

    def _answer(self, route: RestRoute) -> Callable[[Request], Awaitable[tuple[grpc.StatusCode, Response]]]:
        """The route's handler: its status code (for the metrics) and its response."""
        request_class = route.request
        handler = getattr(self.servicers[route.service], route.method)

        async def answer(request: Request) -> tuple[grpc.StatusCode, Response]:
            try:
                rule = self.rules.get(route.grpc_path)
                identity = authorize(self.identities, rule, route.grpc_path, request.headers, loopback=self.loopback)
                message = parse(request_class, await self._body(request), dict(request.path_params))
                current_identity.set(identity)  # this request's own task
                with txn_context(None, current_traceparent.get() or request.headers.get(TRACEPARENT_HEADER)):
                    if route.streams:  # one request in, its one reply out
                        replies = handler(_one(message), RestContext())
                        reply = await anext(replies, None)
                        await replies.aclose()
                    else:
                        reply = await handler(message, RestContext())
            except Refused as exc:
                return exc.code, _error(exc.code, exc.details)
            except BadBody as exc:
                return grpc.StatusCode.INVALID_ARGUMENT, _error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Exception as exc:  # what the gRPC front's outage interceptor and answers would say
                code, message_text = failure(exc)
                return code, _error(code, message_text)
            if reply is None:
                return grpc.StatusCode.INTERNAL, _error(grpc.StatusCode.INTERNAL, f"{route.grpc_path}: no reply")
            return grpc.StatusCode.OK, JSONResponse(render(reply))

        return answer

    async def _body(self, request: Request) -> Any:
        if request.method in ("GET", "DELETE"):
            return {}
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BadBody(f"body: at most {MAX_BODY} bytes")
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BadBody(f"body: not valid JSON ({str(exc)[:100]})") from exc
        except RecursionError as exc:
            raise BadBody("body: JSON nested too deep") from exc
