"""Serve the console with uvicorn on a socket bound here (so port 0 works and the real address is known),
after the same listen rule as every txcoord server: a non-loopback address needs TLS and a token, unless
the operator says --insecure."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace

import uvicorn

from console.app import create_app
from console.settings import ConsoleSettings
from sdk.errors import ConfigError
from sdk.rpc import ServerSecurity, parse_address
from sdk.rpc.security import is_loopback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    address: str  # HOST:PORT
    cert: str | None = None  # PEM certificate and key: serve HTTPS
    key: str | None = None
    insecure: bool = False


def checked(listen: Listen, settings: ConsoleSettings) -> tuple[str, int, ConsoleSettings]:
    """(host, port, settings with the read rule): refuses what ``ServerSecurity.check_listen`` refuses."""
    host, port = parse_address(listen.address, field="--listen")
    if (listen.cert is None) != (listen.key is None):
        raise ConfigError("--tls-cert/--tls-key: the console needs both its certificate and its key")
    security = ServerSecurity(cert=listen.cert, key=listen.key, token=settings.token, insecure=listen.insecure)
    security.check_listen(host, listen.address, protects=True)
    # reads: open on loopback (only this machine), or when the operator chose --insecure; otherwise a login
    loopback = is_loopback(host)
    return host, port, replace(settings, reads_open=loopback or listen.insecure, loopback_hosts_only=loopback)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = exc.strerror or exc
        raise ConfigError(f"--listen {host}:{port}: cannot listen there ({why}); is the port in use?") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def serve(listen: Listen, settings: ConsoleSettings, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until cancelled (or SIGINT/SIGTERM); ``on_ready`` gets the console's URL once it answers."""
    host, port, settings = checked(listen, settings)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    scheme = "https" if listen.cert else "http"
    shown_host = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        create_app(settings),
        ssl_certfile=listen.cert,
        ssl_keyfile=listen.key,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # it failed to start: its error
                raise ConfigError(f"console: could not start on {listen.address}")
            await asyncio.sleep(0.05)
        url = f"{scheme}://{shown_host}:{bound}/"
        log.info("console serving on %s (coordinator %s)", url, ", ".join(settings.coordinators))
        if on_ready is not None:
            on_ready(url)
        await task
    finally:
        server.should_exit = True
        if not task.done():
            await asyncio.wait_for(task, 10)
        sock.close()
