"""Serving the proxy's metrics: prometheus-client's HTTP exposition, and what is read on each scrape (client
sessions, backend pools)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dbproxy.errors import ConfigError
from dbproxy.executor.context import ProxyContext
from dbproxy.metrics import ObservedCommitter, enable

log = logging.getLogger("dbproxy.metrics")


class ProxyCollector(Collector):
    """Read on each scrape: open client sessions, backend pool use."""

    def __init__(self, ctx: ProxyContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("dbproxy_sessions", "Client sessions logged in now", value=len(self.ctx.sessions))
        pools = GaugeMetricFamily(
            "dbproxy_backend_connections",
            "Backend connections by backend and state (open: all this pool holds, idle: ready for a statement)",
            labels=["backend", "state"],
        )
        waiting = GaugeMetricFamily(
            "dbproxy_backend_waiters", "Statements waiting for a free backend connection", labels=["backend"]
        )
        limit = GaugeMetricFamily(
            "dbproxy_backend_connections_max", "The pool's limit per backend (pool.max_connections)", labels=["backend"]
        )
        for name, pool in list(self.ctx.pools.pools.items()):
            pools.add_metric([name, "open"], pool.open)
            pools.add_metric([name, "idle"], sum(len(conns) for conns in list(pool.idle.values())))
            waiting.add_metric([name], len(pool._waiters))
            limit.add_metric([name], pool.settings.max_connections)
        yield pools
        yield waiting
        yield limit


def serve(listen: str, ctx: ProxyContext) -> str:
    """Turn the proxy's metrics on for ``ctx`` and serve them on ``listen``; returns the address bound."""
    host, _, port = listen.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]"))
    except OSError as exc:
        raise ConfigError([f"metrics.listen {listen}: cannot listen there ({exc.strerror or exc})"]) from exc
    ctx.committer = ObservedCommitter(ctx.committer, enable())
    REGISTRY.register(ProxyCollector(ctx))
    address = f"{host}:{server.server_port}"
    log.info("metrics on http://%s/metrics", address)
    return address
