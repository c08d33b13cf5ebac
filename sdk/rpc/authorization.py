"""Who may call what: one table with a rule for every method of every txcoord server, and the one server
interceptor that enforces it (docs/authorization.md explains each rule and each entry).

The interceptor decides from the table and the caller's credential alone (a dict lookup and a token digest:
no I/O per call), before the handler runs. Rules that depend on the request (this gid is the caller's, this
service is one it may use, this lease is its own) are the handler's half of the same rule: it reads the
identity the interceptor found from :data:`current_identity`. A method with no rule is refused once security is
on, and ``tests/integration/coordinator/test_authorization_walk.py`` fails when a server serves a method
without one.

With no credential configured at all (the plaintext loopback demo) nothing is checked and the interceptor
costs nothing: it hands back the handler untouched."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import grpc

from sdk.rpc.identities import Identities, Identity, Role
from sdk.rpc.security import AUTH_KEY

_BEARER = "Bearer "


class Rule(enum.StrEnum):
    OPEN = "open"  # health and reflection: anyone who can connect (loopback, or past TLS)
    READ = "read"  # read-only: open on a loopback-only listener (or with security off), else any valid identity
    CALLER = "caller"  # a caller (or proxy); the handler checks the gid is theirs and the services they enlist
    PARTICIPANT = "participant"  # a participant (or proxy); the handler checks the service and lease are theirs
    PROXY = "proxy"  # the proxy's own report about its own transaction
    ADMIN = "admin"  # operators only
    SIGNED = "signed"  # a phase call to a participant: the branch signature in the body is the credential


ROLES: dict[Rule, frozenset[Role]] = {
    Rule.CALLER: frozenset({Role.CALLER, Role.PROXY}),
    Rule.PARTICIPANT: frozenset({Role.PARTICIPANT, Role.PROXY}),
    Rule.PROXY: frozenset({Role.PROXY}),
    Rule.ADMIN: frozenset({Role.ADMIN}),
}

_COORDINATOR = "/txcoord.coordinator.v1.Coordinator/"
_SAGAS = "/txcoord.saga.v1.Sagas/"
_REGISTRY = "/txcoord.registry.v1.Registry/"

RULES: dict[str, Rule] = {
    _COORDINATOR + "Begin": Rule.CALLER,
    _COORDINATOR + "RegisterBranch": Rule.CALLER,
    _COORDINATOR + "Commit": Rule.CALLER,
    _COORDINATOR + "Rollback": Rule.CALLER,
    _COORDINATOR + "Session": Rule.CALLER,  # each operation on it is checked like its unary twin
    _COORDINATOR + "Finish": Rule.PROXY,
    _COORDINATOR + "Query": Rule.READ,
    _COORDINATOR + "List": Rule.READ,
    _COORDINATOR + "Activity": Rule.READ,  # outcomes per minute, for the console's chart
    _COORDINATOR + "Retry": Rule.ADMIN,
    _COORDINATOR + "Abort": Rule.ADMIN,
    _COORDINATOR + "Resolve": Rule.ADMIN,
    _SAGAS + "RegisterSaga": Rule.ADMIN,
    _SAGAS + "StartSaga": Rule.CALLER,
    _SAGAS + "QuerySaga": Rule.READ,
    _SAGAS + "ListSagaDefinitions": Rule.READ,
    _SAGAS + "RetrySaga": Rule.ADMIN,  # a saga marked for a person: compensate again
    _SAGAS + "ResolveSaga": Rule.ADMIN,  # ... or record a step compensated by hand
    _REGISTRY + "Register": Rule.PARTICIPANT,
    _REGISTRY + "KeepAlive": Rule.PARTICIPANT,
    _REGISTRY + "Deregister": Rule.PARTICIPANT,
    _REGISTRY + "Resolve": Rule.READ,
    _REGISTRY + "Watch": Rule.READ,
    _REGISTRY + "List": Rule.READ,
    "/grpc.health.v1.Health/Check": Rule.OPEN,
    "/grpc.health.v1.Health/Watch": Rule.OPEN,
    "/grpc.health.v1.Health/List": Rule.OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Rule.OPEN,
}

# The identity the interceptor found for the call being handled; None when security is off.
current_identity: ContextVar[Identity | None] = ContextVar("txc_identity", default=None)


def needs_no_credential(rule: Rule, loopback: bool) -> bool:
    """Whether a call under ``rule`` is let through without a credential (security on): health and reflection,
    participants' phase calls (the branch signature in the body is the credential), and read-only methods when
    the listener is on loopback only (``loopback``: nobody off this machine can connect to it)."""
    return rule is Rule.OPEN or rule is Rule.SIGNED or (rule is Rule.READ and loopback)


def wrong_identity(rule: Rule, identity: Identity, method: str) -> str | None:
    """Why ``identity`` may not call ``method`` under ``rule`` (None: it may). A read-only method takes any
    identity the credentials know, whatever its roles."""
    if rule is Rule.READ or identity.has_any(ROLES[rule]):
        return None
    return f"{method}: identity {identity.name!r} is not a {' or '.join(sorted(ROLES[rule]))}"


def sends_credential(method: str) -> bool:
    """Whether a client attaches its credential to ``method``: every txcoord service, never a participant's
    (a participant must not learn a token it could replay)."""
    return method.startswith("/txcoord.")


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == AUTH_KEY and isinstance(value, str):
            return value[len(_BEARER) :] if value.startswith(_BEARER) else value
    return None


def _certificate_names(context: grpc.aio.ServicerContext) -> list[str]:
    auth = context.auth_context()
    names = [*auth.get("x509_common_name", ()), *auth.get("x509_subject_alternative_name", ())]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _deny(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that refuses the call before any of its work runs."""

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    async def deny_stream(_request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(code, message)
        yield  # an async generator, as a streaming reply's handler is

    streams = handler.unary_stream is not None or handler.stream_stream is not None
    return _same_kind(handler, deny_stream if streams else deny)


def _same_kind(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(behavior, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behavior, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(behavior, **kwargs)
    return grpc.stream_stream_rpc_method_handler(behavior, **kwargs)


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):
    """Enforces ``rules`` (the server's table: :data:`RULES` plus its JSON services) for ``identities``.
    ``loopback``: the server listens on a loopback address only (read-only methods need no credential then)."""

    def __init__(self, rules: MutableMapping[str, Rule], identities: Identities, *, loopback: bool = False) -> None:
        self.rules = rules
        self.identities = identities
        self.loopback = loopback

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not self.identities.enabled:
            return handler
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        rule = self.rules.get(method)
        if rule is None:
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, f"{method}: no authorization rule; refused")
        if needs_no_credential(rule, self.loopback):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)  # type: ignore[attr-defined]
        if token is not None:
            identity = self.identities.by_token(token)
            if identity is None:
                return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, f"{method}: the token given is not valid")
            return self._checked(handler, method, rule, identity)
        return self._by_certificate(handler, method, rule)

    def _checked(
        self, handler: grpc.RpcMethodHandler, method: str, rule: Rule, identity: Identity
    ) -> grpc.RpcMethodHandler:
        why = wrong_identity(rule, identity, method)
        if why is not None:
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, why)
        return _same_kind(handler, _as(identity, handler))

    def _by_certificate(self, handler: grpc.RpcMethodHandler, method: str, rule: Rule) -> grpc.RpcMethodHandler:
        """No token: the peer's certificate (mutual TLS) is the credential, known only inside the call."""
        inner = _as(None, handler)

        async def resolve(request: Any, context: grpc.aio.ServicerContext) -> Any:
            identity = self.identities.by_certificate(_certificate_names(context))
            if identity is None:
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"{method}: needs a credential (a token: TXC_TOKEN or --token; or a client certificate)",
                )
            assert identity is not None
            why = wrong_identity(rule, identity, method)
            if why is not None:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
            current_identity.set(identity)  # this call's own task: nothing else sees it
            return inner(request, context)

        if handler.unary_stream is not None or handler.stream_stream is not None:

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async for item in await resolve(request, context):
                    yield item

            return _same_kind(handler, stream)

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await (await resolve(request, context))

        return _same_kind(handler, unary)


def _as(identity: Identity | None, handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    """``handler``'s behaviour run with ``identity`` as :data:`current_identity` (None: already set)."""
    behavior = handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    assert behavior is not None
    if handler.unary_stream is not None or handler.stream_stream is not None:

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if identity is not None:
                current_identity.set(identity)
            async for item in behavior(request, context):
                yield item

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if identity is not None:
            current_identity.set(identity)
        return await behavior(request, context)

    return unary
