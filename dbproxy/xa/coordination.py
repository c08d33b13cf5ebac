"""The proxy as a member of a coordinated service: the one module of dbproxy that uses ``sdk``.

It registers the proxy in the registry under ``transactions.service`` (with the standard gRPC health service),
creates the decision tables on the backends, runs recovery, and sends the batched reports of finished
multi-backend transactions to the coordinator (``dbproxy.xa.reporter``) over the sdk's session stream. The
coordinator is off the commit path (the decision is a row in one backend), so this is where the proxy fails
over between the coordinators it is given: each report goes to the first that answers. Everything else in
dbproxy is free of gRPC.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from dbproxy.backends.pool import Pools
from dbproxy.config import ProxyConfig
from dbproxy.errors import BackendError, ConfigError, ProxyError
from dbproxy.xa.commit import FinishedXa
from dbproxy.xa.decisions import DecisionTable
from dbproxy.xa.recovery import XaRecovery
from dbproxy.xa.reporter import XaReporter
from dbproxy.xa.statements import MAX_PART
from sdk import CoordinatorClient, RpcError
from sdk.observability import enable_metrics
from sdk.service_server import ServiceServer

log = logging.getLogger("dbproxy.xa.coordination")

# MariaDB's answers to a missing privilege: the decision table's grant is missing
_ACCESS_DENIED = {1044, 1045, 1142, 1143, 1227}


def outcome_message(finished: FinishedXa, service: str) -> dict[str, Any]:
    return {
        "gid": finished.gid,
        "committed": finished.committed,
        "service": service,
        "decider": finished.decider,
        "reason": finished.reason,
        "started_at": finished.started_at,
        "branches": [{"backend": x.backend, "gtrid": x.gtrid, "bqual": x.bqual} for x in finished.xids],
    }


class Coordination:
    """Implements ``dbproxy.xa.commit.XaLog``; ``start`` once the pools exist."""

    def __init__(self, config: ProxyConfig) -> None:
        settings = config.transactions
        assert settings.coordinator is not None
        if config.metrics is not None:  # the gRPC metrics interceptors of the client and server made below
            enable_metrics()
        self.settings = settings
        self.service = settings.service
        self.backends = list(config.backends)
        longest = max(len(name.encode()) for name in self.backends)
        if any("|" in name for name in self.backends) or len(self.service.encode()) + 2 * longest + 2 > MAX_PART:
            raise ConfigError(
                [
                    "backends: names must not contain '|', and the service name plus two backend names must fit in "
                    f"{MAX_PART - 2} bytes (they form the XA branch qualifier)"
                ]
            )
        self.decisions = DecisionTable(settings.decision_schema, self.service)
        addresses = [a.strip() for a in settings.coordinator.split(",")]
        registry = [a.strip() for a in (settings.registry or settings.coordinator).split(",")]
        self.clients = [CoordinatorClient(a, registry=registry, timeout=10.0) for a in addresses]
        self._current = 0  # the coordinator that answered last
        self._gid_prefix = os.urandom(4).hex()
        self._gids = itertools.count()
        self.registry = registry
        self.host: ServiceServer | None = None
        self.recovery: XaRecovery | None = None
        self.reporter: XaReporter | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, pools: Pools) -> None:
        await self._create_tables(pools)
        self.reporter = XaReporter(self._send, pools, self.decisions)
        self.reporter.start()
        host = ServiceServer(
            self.settings.listen,
            self.registry,
            ttl=self.settings.registry_ttl,
            name=self.service,
            advertise=self.settings.advertise,
        )
        host.add_json_service(self.service, {})
        await host.start()
        self.host = host
        self.recovery = XaRecovery(
            pools,
            self.backends,
            self.decisions,
            self.settings.timeout,
            self.settings.recovery_interval,
            self.reporter.report,
        )
        self.recovery.start()  # its first scan runs now: branches a previous instance left prepared
        log.info("registered as service %r at %s", self.service, host.server.address)

    async def _create_tables(self, pools: Pools) -> None:
        for backend in self.backends:
            pool = pools[backend]
            try:
                conn = await pool.acquire(False, 45, ())
                try:
                    await self.decisions.create(conn)
                finally:
                    pool.release(conn)
            except BackendError as exc:
                if exc.code in _ACCESS_DENIED:
                    raise ConfigError(
                        [
                            f"backend '{backend}': cannot create the XA decision table {self.decisions.table} "
                            f"({exc.message}); the backend account needs CREATE, SELECT, INSERT, DELETE on "
                            f"`{self.decisions.schema}`.* (transactions.decision_schema)"
                        ]
                    ) from exc
                raise
            except ProxyError as exc:  # down now: its commits fail until it is back, recovery retries the table
                log.warning("backend '%s': decision table not checked (%s)", backend, exc.message)

    @property
    def address(self) -> str:
        return self.host.server.address if self.host is not None else ""

    async def close(self) -> None:
        if self.recovery is not None:
            await self.recovery.close()
        if self.reporter is not None:
            await self.reporter.close()
        if self.host is not None:
            await self.host.stop(grace=1.0)
        for client in self.clients:
            await client.close()

    # -- the committer's side ------------------------------------------------------------------------------

    def new_gid(self) -> str:
        """Unique and sortable by creation time: the XA gtrid too. The process's random prefix and a counter
        instead of fresh random bytes: no system call per transaction (the profile showed it)."""
        return f"{time.time_ns():016x}{self._gid_prefix}{next(self._gids) & 0xFFFFFFFF:08x}"

    def report(self, finished: FinishedXa) -> None:
        if self.reporter is not None:
            self.reporter.report(finished)

    async def _send(self, batch: Sequence[FinishedXa]) -> None:
        """One report to the first coordinator that answers, starting with the one that answered last."""
        outcomes = [outcome_message(f, self.service) for f in batch]
        errors = []
        for step in range(len(self.clients)):
            index = (self._current + step) % len(self.clients)
            try:
                await self.clients[index].report_xa(outcomes, timeout=5.0)
            except RpcError as exc:
                errors.append(f"{self.clients[index].address}: {exc.code.name}")
                continue
            self._current = index
            return
        raise ProxyError(f"no coordinator recorded the report ({'; '.join(errors)})", code=1180)
