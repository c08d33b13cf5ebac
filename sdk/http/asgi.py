"""A ``Participant`` served over HTTP/JSON as an ASGI application (Starlette), by itself under uvicorn or
mounted into a user's FastAPI / Starlette app:

    app = ParticipantApp(Participant("bank-a", [debit, credit], barrier=PgBarrier(pool)))
    api.mount("/txc/bank-a", app)                      # in the user's app; or run ``app`` under uvicorn
    await app.register(registry, "http://10.0.0.5:8000/txc/bank-a")   # e.g. from the user's lifespan

The same handlers as over gRPC (``Participant.handlers``): the same decorators, branch-signature check,
barrier and interceptors; only the envelope travels differently (``sdk.http.wire``). Registered with
protocol ``http`` and its base URL as the address, so the coordinator calls it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

import grpc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sdk.errors import ConfigError, RpcError
from sdk.http.wire import GID_HEADER, HTTP, PROTOCOL_KEY, TRACEPARENT_HEADER, error_body, join_envelope, status_of
from sdk.registry import Lease, RegistryClient
from sdk.rpc.context import txn_context
from sdk.rpc.server import JsonHandler
from sdk.service_server import register_waiting
from sdk.tcc import TccArgumentError

if TYPE_CHECKING:
    from sdk.participant import Participant

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024  # as the gRPC server's default message limit


def _error(code: grpc.StatusCode, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_of(code))


class ActionApp:
    """The ASGI app serving one service's generic JSON actions (``handlers``, as ``RpcServer.add_json_service``
    takes them). With ``registry`` and ``base_url`` it registers itself on start-up and deregisters on
    shutdown when it is the app a server runs (a mounted app's lifespan does not run: call :meth:`register` /
    :meth:`deregister` from the enclosing app's lifespan instead)."""

    def __init__(
        self,
        service: str,
        handlers: Mapping[str, JsonHandler],
        *,
        registry: str | Sequence[str] | None = None,
        base_url: str | None = None,
        ttl: float = 10.0,
    ) -> None:
        self.service = service
        self.handlers = dict(handlers)
        self.ttl = ttl
        self._registry_addresses = registry
        self._base_url = base_url
        self.registry: RegistryClient | None = None
        self._own_registry = True
        self.lease: Lease | None = None
        self.app = Starlette(routes=[Route("/{action:path}", self._call, methods=["POST"])], lifespan=self._lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        registering: asyncio.Task[Lease] | None = None
        if self._registry_addresses is not None and self._base_url is not None:
            # in the background: it serves while a registry that is not up yet is waited for
            registering = asyncio.create_task(self.register(self._registry_addresses, self._base_url))
        try:
            yield
        finally:
            if registering is not None and not registering.done():
                registering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await registering
            await self.deregister()

    async def register(self, registry: str | Sequence[str] | RegistryClient, base_url: str) -> Lease:
        """Register this participant's service at ``base_url`` (where this app is reachable) with protocol
        ``http``, waiting for the registry if it does not answer yet; the lease is kept alive until
        :meth:`deregister`."""
        self._own_registry = not isinstance(registry, RegistryClient)
        self.registry = registry if isinstance(registry, RegistryClient) else RegistryClient(registry)
        address = base_url.rstrip("/")
        self.lease = await register_waiting(self.registry, self.service, address, self.ttl, {PROTOCOL_KEY: HTTP})
        log.info("%s: registered over HTTP at %s", self.service, address)
        return self.lease

    async def deregister(self) -> None:
        """Stop serving registrations: callers stop picking this endpoint at once (before a drain)."""
        if self.registry is None:
            return
        registry, lease, self.registry, self.lease = self.registry, self.lease, None, None
        if self._own_registry:
            await registry.close()  # deregisters its leases first
        elif lease is not None:
            await registry.deregister(lease)  # the caller's client: theirs to close

    async def _call(self, request: Request) -> Response:
        action = request.path_params["action"]
        handler = self.handlers.get(action)
        if handler is None:
            return _error(grpc.StatusCode.UNIMPLEMENTED, f"service {self.service!r} has no action {action[:80]!r}")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(grpc.StatusCode.RESOURCE_EXHAUSTED, f"body: at most {MAX_BODY} bytes")
        where = f"{self.service}.{action}"
        try:
            body = json.loads(raw) if raw else {}
            envelope = join_envelope(request.headers, body)
        except ValueError as exc:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: body: not valid JSON ({str(exc)[:100]})")
        except RecursionError:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: body: JSON nested too deep")
        try:
            with txn_context(request.headers.get(GID_HEADER), request.headers.get(TRACEPARENT_HEADER)):
                reply = await handler(envelope, None)
        except RpcError as exc:
            return _error(exc.code, exc.details)
        except (TccArgumentError, ConfigError, ValueError, TypeError) as exc:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: {exc}")
        except Exception as exc:  # a handler's own failure: retryable, one log line (no traceback per call)
            log.warning("%s failed: %s: %s", where, type(exc).__name__, exc)
            return _error(grpc.StatusCode.INTERNAL, f"{where} failed: {type(exc).__name__}: {exc}")
        return JSONResponse(reply)


class ParticipantApp(ActionApp):
    """A :class:`~sdk.participant.Participant`'s handlers (its @tcc actions and saga steps) as an ASGI app."""

    def __init__(
        self,
        participant: Participant,
        *,
        registry: str | Sequence[str] | None = None,
        base_url: str | None = None,
        ttl: float = 10.0,
    ) -> None:
        self.participant = participant
        super().__init__(participant.service, participant.handlers(), registry=registry, base_url=base_url, ttl=ttl)
