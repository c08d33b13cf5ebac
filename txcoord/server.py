"""A coordinator process: store (a server's, or an embedded PostgreSQL), engine, gRPC service, and the
registry it hosts unless one runs elsewhere."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sdk._proto import coordinator_pb2_grpc
from sdk.branch_mac import KEY_ENV, BranchSigner
from sdk.observability import MetricsEndpoint, setup_tracing
from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity, RpcServer, ServerSecurity
from txcoord import metrics
from txcoord.engine.lease_loop import RecoverySettings
from txcoord.engine.retry import Retry
from txcoord.engine.signing import BranchSigning
from txcoord.errors import ConfigError
from txcoord.registry import MemoryRegistryStore, PgRegistryStore, RegistryServer, RegistryStore
from txcoord.rest import RestServer
from txcoord.saga.runtime import SagaRuntime
from txcoord.store import embedded
from txcoord.store.migrations import upgrade
from txcoord.store.outage import OutageInterceptor, quiet_pool_outages
from txcoord.tcc.coordinator import Coordinator, CoordinatorSettings
from txcoord.tcc.delivery import RegistryDelivery
from txcoord.tcc.phase2 import Phase2Driver
from txcoord.tcc.recovery import TccRecovery
from txcoord.tcc.servicer import SERVICE_NAME, CoordinatorServicer
from txcoord.tcc.store import PgStore, redact
from txcoord.xa_reports import XaReports

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "txcoord"


@dataclass(frozen=True)
class CoordinatorConfig:
    listen: str = "127.0.0.1:7070"
    store: str | None = None  # None: an embedded PostgreSQL in data_dir
    data_dir: Path = embedded.DEFAULT_DATA_DIR
    node_id: str | None = None  # default: hostname:port, stable across restarts so a node reclaims its own work
    registry: str | None = None  # an external registry; None: host one here
    registry_store: str = "store"  # hosted registry: "store" (shared through the coordinator store) or "memory"
    default_timeout: float = 60.0
    lease: float = 10.0
    scan_interval: float = 1.0
    phase2_timeout: float = 10.0
    retry: Retry = field(default_factory=Retry)
    server_security: ServerSecurity | None = None  # None: from the environment (sdk.rpc.security)
    client_security: ClientSecurity | None = None  # for phase 2, saga steps and the registry; None: environment
    branch_key: bytes | None = None  # signs branches for participants (sdk.branch_mac); None: TXC_BRANCH_KEY
    metrics_listen: str | None = None  # HOST:PORT of the Prometheus endpoint; None: no metrics
    http_listen: str | None = None  # HOST:PORT of the REST API (txcoord.rest); None: gRPC only


async def open_store_url(config: CoordinatorConfig) -> str:
    """The store URL: the given one, or the embedded server's (created and migrated on first use)."""
    if config.store is not None:
        return config.store
    server_url = await asyncio.to_thread(embedded.start, config.data_dir)
    url = await embedded.ensure_database(server_url, EMBEDDED_DATABASE)
    await asyncio.to_thread(upgrade, url)  # a private server: keeping it at head is ours to do
    return url


class CoordinatorServer:
    """Everything one coordinator runs; ``start`` / ``close`` for tests and the demo, ``run`` for the CLI."""

    def __init__(self, config: CoordinatorConfig) -> None:
        self.config = config
        self._server: RpcServer | None = None  # made in start(): grpc.aio binds it to the running loop
        self.store: PgStore | None = None
        self.registry_service: RegistryServer | None = None
        self.registry_client: RegistryClient | None = None
        self.delivery: RegistryDelivery | None = None
        self.driver: Phase2Driver | None = None
        self.recovery: TccRecovery | None = None
        self.coordinator: Coordinator | None = None
        self.sagas: SagaRuntime | None = None
        self.store_url = ""
        self.metrics: MetricsEndpoint | None = None
        self._unwatch: Callable[[], None] | None = None
        self.rest: RestServer | None = None

    @property
    def server(self) -> RpcServer:
        if self._server is None:
            raise RuntimeError("CoordinatorServer.server exists only after start()")
        return self._server

    async def start(self) -> None:
        config = self.config
        quiet_pool_outages()
        setup_tracing("txcoord")  # only if OTEL_* variables ask for it; before the gRPC server and clients are made
        if config.metrics_listen is not None:  # first: the gRPC server's metrics interceptor is installed only then
            self.metrics = metrics.serve(config.metrics_listen)
        self._server = RpcServer(
            config.listen, name="coordinator", security=config.server_security, interceptors=[OutageInterceptor()]
        )
        self.store_url = await open_store_url(config)
        self.store = await PgStore.connect(self.store_url)
        if config.registry is None:
            registry_store: RegistryStore = (
                MemoryRegistryStore() if config.registry_store == "memory" else PgRegistryStore(self.store_url)
            )
            self.registry_service = RegistryServer(registry_store)
            self.registry_service.attach(self.server)
            await self.registry_service.open()
        if self.metrics is not None:
            hosted = self.registry_service.store.list_all if self.registry_service is not None else None
            self._unwatch = metrics.watch(store_query=self.store.unfinished_by_state, registry_list=hosted)
        # The engine exists before the server starts, so no call ever finds it missing; what depends on the
        # bound port (node id, the hosted registry's address) is filled in right after.
        signer = BranchSigner(config.branch_key) if config.branch_key else BranchSigner.from_env()
        if signer is None:
            log.warning(
                "coordinator: %s is not set; branches are not signed (participants cannot verify calls)", KEY_ENV
            )
        signing = BranchSigning(signer)
        self.delivery = RegistryDelivery(None, timeout=config.phase2_timeout, signing=signing)
        self.driver = Phase2Driver(
            self.store, metrics.observed_delivery(self.delivery), config.node_id or "", config.retry
        )
        self.recovery = TccRecovery(
            self.store, self.driver, RecoverySettings(interval=config.scan_interval, lease=config.lease)
        )
        self.coordinator = Coordinator(
            self.store,
            self.driver,
            self.recovery,
            CoordinatorSettings(default_timeout=config.default_timeout, lease=config.lease),
        )
        servicer = CoordinatorServicer(self.coordinator, signing, XaReports(self.store))
        self.server.add_servicer(coordinator_pb2_grpc.add_CoordinatorServicer_to_server, servicer, SERVICE_NAME)
        self.sagas = SagaRuntime(
            self.store.pool,
            config.lease,
            config.scan_interval,
            unregistered_bound=config.retry.unregistered_bound,
            signing=signing,
        )
        self.sagas.attach(self.server)
        try:
            await self.server.start()
        except RuntimeError as exc:
            raise ConfigError(f"--listen {config.listen}: cannot listen there ({exc}); is the port in use?") from exc
        if config.http_listen:
            self.rest = RestServer(config.http_listen, self.server)
            await self.rest.start()
        node_id = config.node_id or f"{socket.gethostname()}:{self.server.address.rsplit(':', 1)[1]}"
        self.driver.owner = node_id
        registry = config.registry or self.server.address
        self.registry_client = RegistryClient(registry, security=self._registry_security())
        self.delivery.registry = self.registry_client
        self.recovery.start()
        self.sagas.start(node_id, self.registry_client)
        log.info(
            "coordinator %s serving on %s (store %s, registry %s)",
            node_id,
            self.server.listening,
            redact(self.store_url),
            config.registry or "hosted here",
        )

    def _registry_security(self) -> ClientSecurity | None:
        """How the coordinator's own registry client dials. Resolving needs a credential on a listener other
        machines reach: with no token of its own, a coordinator hosting the registry uses an in-process one
        (an identity with no role: read-only methods only)."""
        security = self.config.client_security
        if self.config.registry is not None or not self.server.identities.enabled:
            return security
        security = security if security is not None else ClientSecurity.from_env()
        if security.token:
            return security
        return replace(security, token=self.server.identities.internal("coordinator (hosted registry)"))

    async def close(self, grace: float = 5.0) -> None:
        if self.delivery is not None:
            log.info(
                "phase 2 stats: phase2_calls=%d phase2_branches=%d; store batches (requests/batches): %s",
                self.delivery.calls,
                self.delivery.deliveries,
                self.store.batch_stats() if self.store is not None else "-",
            )
        closers: list[Callable[[], Awaitable[None]]] = []
        if self.recovery is not None:
            closers.append(self.recovery.close)
        if self.sagas is not None:
            closers.append(self.sagas.close)
        if self.rest is not None:
            closers.append(self.rest.close)
        if self._server is not None:
            closers.append(lambda: self.server.stop(grace))
        if self.driver is not None:
            closers.append(self.driver.close)
        if self.delivery is not None:
            closers.append(self.delivery.close)
        if self.registry_client is not None:
            closers.append(lambda: self.registry_client.close(deregister=False))  # type: ignore[union-attr]
        if self.registry_service is not None:
            closers.append(self.registry_service.close)
        if self.store is not None:
            closers.append(self.store.close)
        for close in closers:
            try:
                await close()
            except Exception:
                log.exception("coordinator: error while shutting down")
        if self._unwatch is not None:
            self._unwatch()
        if self.metrics is not None:
            self.metrics.close()

    async def run(self) -> None:
        await self.start()
        try:
            await self.server.serve_until_signal()
        finally:
            await self.close()
