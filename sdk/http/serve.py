"""Run a participant's ASGI app under uvicorn by itself: bind, register its base URL with protocol ``http``,
serve until SIGTERM/SIGINT, deregister (on the way out, before draining) and stop."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence

import uvicorn

from sdk.errors import ConfigError
from sdk.http.asgi import ActionApp
from sdk.rpc.address import format_address, parse_address
from sdk.rpc.security import ServerSecurity
from sdk.rpc.server import JsonHandler

log = logging.getLogger(__name__)


def bind(listen: str, field: str = "listen") -> socket.socket:
    """A listening TCP socket for uvicorn (bound here so port 0 can be registered as the port it got)."""
    host, port = parse_address(listen, field=field)
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every answer (headers and body written apart) waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{field} {listen}: cannot listen there ({exc.strerror}); is the port in use?") from exc
    return sock


async def serve_http(
    service: str,
    handlers: Mapping[str, JsonHandler],
    listen: str,
    registry: str | Sequence[str],
    *,
    ttl: float = 10.0,
    advertise: str | None = None,
    security: ServerSecurity | None = None,
) -> None:
    """Serve ``service``'s ``handlers`` (e.g. ``Participant.handlers()``) over HTTP at ``listen``.
    ``advertise``: the base URL registered when callers reach it through something in front (default: this
    socket's ``http(s)://host:port``). TLS from TXC_TLS_CERT / TXC_TLS_KEY (as a gRPC participant's) unless
    ``security`` says otherwise."""
    security = security if security is not None else ServerSecurity.from_env()
    sock = bind(listen)
    host, port = sock.getsockname()[:2]
    security.check_listen(host, format_address(host, port), protects=False)
    scheme = "https" if security.tls else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    base_url = advertise or f"{scheme}://{format_address(shown, port)}"
    app = ActionApp(service, handlers, registry=registry, base_url=base_url, ttl=ttl)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ssl_certfile=security.cert,
        ssl_keyfile=security.key,
        timeout_graceful_shutdown=5,
    )
    log.info("%s serving over HTTP on %s", service, base_url)
    await uvicorn.Server(config).serve(sockets=[sock])
