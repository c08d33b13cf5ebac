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
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sdk.http.wire import TRACEPARENT_HEADER, error_body, status_of
from sdk.rpc.authorization import Rule, current_identity, needs_no_credential, wrong_identity
from sdk.rpc.context import txn_context
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
        request_class = route.request
        handler = getattr(self.servicers[route.service], route.method)

        async def endpoint(request: Request) -> Response:
            try:
                rule = self.rules.get(route.grpc_path)
                identity = authorize(self.identities, rule, route.grpc_path, request.headers, loopback=self.loopback)
                message = parse(request_class, await self._body(request), dict(request.path_params))
                current_identity.set(identity)  # this request's own task
                with txn_context(None, request.headers.get(TRACEPARENT_HEADER)):
                    if route.streams:  # one request in, its one reply out
                        replies = handler(_one(message), RestContext())
                        reply = await anext(replies, None)
                        await replies.aclose()
                    else:
                        reply = await handler(message, RestContext())
            except Refused as exc:
                return _error(exc.code, exc.details)
            except BadBody as exc:
                return _error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Exception as exc:  # what the gRPC front's outage interceptor and answers would say
                return _error(*failure(exc))
            if reply is None:
                return _error(grpc.StatusCode.INTERNAL, f"{route.grpc_path}: no reply")
            return JSONResponse(render(reply))

        return endpoint

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
