"""txcoord sdk: what user services and every txcoord process import."""

from sdk.barrier import BarrierOutcome, BarrierRefused, MySqlBarrier, PgBarrier
from sdk.coordinator_client import CoordinatorClient, GlobalTransaction, RollbackOnly, TryFailed
from sdk.errors import ActionNotFound, ConfigError, NoEndpoints, RegistryError, RpcError, TxcError
from sdk.participant import Participant
from sdk.registry import Endpoint, Lease, RegistryClient, ServiceClient
from sdk.rpc import ChannelPool, RpcServer, current_gid, txn_context
from sdk.saga import SagaDefinition, SagaDefinitionError, load_saga
from sdk.saga.client import SagaResult
from sdk.saga.step import RetryLater, SagaContext, SagaStep, saga_step
from sdk.service_host import ServiceHost
from sdk.tcc import TccAction, TccArgumentError, TccContext, TccDefinitionError, tcc

__all__ = [
    "ActionNotFound",
    "BarrierOutcome",
    "BarrierRefused",
    "ChannelPool",
    "ConfigError",
    "CoordinatorClient",
    "Endpoint",
    "GlobalTransaction",
    "Lease",
    "MySqlBarrier",
    "NoEndpoints",
    "Participant",
    "PgBarrier",
    "RegistryClient",
    "RegistryError",
    "RetryLater",
    "RollbackOnly",
    "RpcError",
    "RpcServer",
    "SagaContext",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaResult",
    "SagaStep",
    "ServiceClient",
    "ServiceHost",
    "TccAction",
    "TccArgumentError",
    "TccContext",
    "TccDefinitionError",
    "TryFailed",
    "TxcError",
    "current_gid",
    "load_saga",
    "saga_step",
    "tcc",
    "txn_context",
]
