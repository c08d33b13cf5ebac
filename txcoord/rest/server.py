"""The REST API's listener (``txc coordinator --http-listen``): uvicorn in the coordinator's own event loop,
TLS and identities as the gRPC listener's (the same ``ServerSecurity``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Generator

import uvicorn

from sdk.http.serve import bind
from sdk.rpc import RpcServer
from sdk.rpc.address import format_address, parse_address
from sdk.rpc.security import is_loopback
from txcoord.rest.app import RestApi

log = logging.getLogger(__name__)


class _Embedded(uvicorn.Server):
    """uvicorn inside the coordinator: SIGTERM is the coordinator's to handle (it closes this server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class RestServer:
    def __init__(self, listen: str, grpc_server: RpcServer) -> None:
        self.listen = listen
        security = grpc_server.security
        self.security = security
        host, _port = parse_address(listen, field="--http-listen")
        loopback = is_loopback(host)  # read-only methods need no credential on a loopback-only listener
        self.api = RestApi(grpc_server.servicers, grpc_server.rules, security.identities(), loopback=loopback)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        host, port = parse_address(self.listen, field="--http-listen")
        where = format_address(host, port)
        self.security.check_listen(host, where, protects=True)
        sock = bind(self.listen, "--http-listen")
        bound = sock.getsockname()[1]
        scheme = "https" if self.security.tls else "http"
        self.url = f"{scheme}://{format_address('127.0.0.1' if host in ('0.0.0.0', '') else host, bound)}"
        config = uvicorn.Config(
            self.api.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=self.security.cert,
            ssl_keyfile=self.security.key,
            # under mutual TLS the handshake demands a certificate the CA signed, as the gRPC listener does; the
            # identity on this front still comes from the token (the certificate's name is not read here)
            ssl_ca_certs=self.security.ca if self.security.require_client_cert else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if self.security.require_client_cert else ssl.CERT_NONE,
        )
        self._server = _Embedded(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="rest-api")
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
        log.info("coordinator REST API on %s (%s)", self.url, "TLS" if self.security.tls else "plaintext")

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
