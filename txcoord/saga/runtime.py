"""Everything sagas add to a coordinator process, wired in one place (the server stays small)."""

from __future__ import annotations

import asyncpg

from sdk._proto import saga_pb2_grpc
from sdk.registry import RegistryClient
from sdk.rpc import RpcServer
from txcoord.engine.lease_loop import RecoverySettings
from txcoord.engine.signing import BranchSigning
from txcoord.saga.attention import SagaAttention
from txcoord.saga.definitions import Definitions
from txcoord.saga.invoker import RegistryInvoker
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.recovery import SagaRecovery
from txcoord.saga.service import SagaService
from txcoord.saga.servicer import SERVICE_NAME, SagaServicer
from txcoord.saga.store import SagaStore


class SagaRuntime:
    def __init__(
        self,
        pool: asyncpg.Pool,
        lease: float,
        scan_interval: float,
        *,
        unregistered_bound: float = 60.0,
        signing: BranchSigning | None = None,
    ) -> None:
        self.store = SagaStore(pool, lease_s=lease)
        self.invoker = RegistryInvoker(None, signing or BranchSigning(None))
        self.definitions = Definitions(self.store)
        self.orchestrator = SagaOrchestrator(
            self.store, self.definitions, self.invoker, "", unregistered_bound=unregistered_bound
        )
        self.recovery = SagaRecovery(
            self.store, self.orchestrator, RecoverySettings(interval=scan_interval, lease=lease)
        )
        self.service = SagaService(self.store, self.definitions, self.orchestrator, lease)
        self.attention = SagaAttention(self.store, self.orchestrator)

    def attach(self, server: RpcServer) -> None:
        server.add_servicer(
            saga_pb2_grpc.add_SagasServicer_to_server, SagaServicer(self.service, self.attention), SERVICE_NAME
        )

    def start(self, node_id: str, registry: RegistryClient) -> None:
        self.orchestrator.owner = self.store.owner = node_id
        self.invoker.registry = registry
        self.recovery.start()

    async def close(self) -> None:
        await self.recovery.close()
        await self.orchestrator.close()
        await self.invoker.close()
        await self.store.close()
