"""The metrics endpoint of a process: prometheus-client's HTTP exposition on an address of its own.

Metrics are off unless a process asks for them: ``serve_metrics("127.0.0.1:9464")`` turns them on for the whole
process (the gRPC interceptors, and each package's families, look at :func:`metrics_enabled`) and serves
``/metrics`` from a thread, so a scrape never waits on the event loop."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server

from sdk.errors import ConfigError
from sdk.rpc.address import format_address, parse_address

log = logging.getLogger(__name__)

_enabled = False


def metrics_enabled() -> bool:
    """Whether this process exports metrics (checked once where instruments are installed, never per call)."""
    return _enabled


def enable_metrics() -> None:
    """Turn metrics on without serving them (a process that mounts ``prometheus_client`` in its own app)."""
    global _enabled
    _enabled = True


@dataclass
class MetricsEndpoint:
    """A running ``/metrics`` listener; ``address`` is the host and the port actually bound."""

    address: str
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(listen: str, *, field: str = "metrics listen") -> MetricsEndpoint:
    """Serve the process's metrics on ``listen`` (HOST:PORT; port 0 picks a free one) and turn metrics on."""
    host, port = parse_address(listen, field=field)
    try:
        server, thread = start_http_server(port, addr=host or "0.0.0.0", registry=REGISTRY)
    except OSError as exc:
        raise ConfigError(
            f"{field} {listen}: cannot listen there ({exc.strerror or exc}); is the port in use?"
        ) from exc
    enable_metrics()
    endpoint = MetricsEndpoint(format_address(host or "0.0.0.0", server.server_port), server, thread)
    log.info("metrics on http://%s/metrics", endpoint.address)
    return endpoint
