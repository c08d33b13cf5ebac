"""txcoord sdk: what you import to write participants and callers of TCC and saga transactions.

    from sdk import CoordinatorClient, Participant, PgBarrier, TccContext, tcc

Everything here is for users: the decorators (``tcc``, ``saga_step``), the clients (``CoordinatorClient`` and the
transactions it opens), ``Participant`` with its interceptors, the barriers, and the errors. The process plumbing
every txcoord process shares (``sdk.rpc``: channels, servers, gid propagation; ``sdk.registry``; ``sdk.service_server``)
lives in submodules and is not part of this surface.

Importing ``sdk`` is cheap: each name loads its module (and grpc, pydantic, ...) on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.barrier import BarrierOutcome, BarrierRefused, MySqlBarrier, PgBarrier
    from sdk.coordinator_client import CoordinatorClient, GlobalTransaction, RollbackOnly, TryFailed
    from sdk.errors import (
        ActionNotFound,
        BusinessError,
        ConfigError,
        DefinitionError,
        InfrastructureError,
        NoEndpoints,
        Refused,
        RegistryError,
        RpcError,
        ServiceFault,
        TransportError,
        TxcError,
        UsageError,
    )
    from sdk.interceptors import ActionCall, ActionReply, Interceptor, Proceed
    from sdk.observability import participant_metrics, setup_logging
    from sdk.participant import Participant
    from sdk.rpc.security import ClientSecurity
    from sdk.saga import SagaDefinition, SagaDefinitionError, load_saga
    from sdk.saga.client import SagaResult
    from sdk.saga.errors import SagaStepError
    from sdk.saga.step import RetryLater, SagaContext, SagaStep, saga_step
    from sdk.tcc import TccAction, TccArgumentError, TccContext, TccDefinitionError, tcc

# `tcc` is also the name of its module: bound eagerly, or the first `import sdk.tcc` anywhere would put the module
# where the decorator should be (sdk.tcc defers pydantic, so this stays cheap)
from sdk.tcc import tcc

# public name -> the module that defines it (loaded on first access, see __getattr__)
_HOME = {
    "BarrierOutcome": "sdk.barrier",
    "BarrierRefused": "sdk.barrier",
    "MySqlBarrier": "sdk.barrier",
    "PgBarrier": "sdk.barrier",
    "CoordinatorClient": "sdk.coordinator_client",
    "GlobalTransaction": "sdk.coordinator_client",
    "RollbackOnly": "sdk.coordinator_client",
    "TryFailed": "sdk.coordinator_client",
    "ActionNotFound": "sdk.errors",
    "ConfigError": "sdk.errors",
    "NoEndpoints": "sdk.errors",
    "RegistryError": "sdk.errors",
    "RpcError": "sdk.errors",
    "TxcError": "sdk.errors",
    "ActionCall": "sdk.interceptors",
    "ActionReply": "sdk.interceptors",
    "Interceptor": "sdk.interceptors",
    "Proceed": "sdk.interceptors",
    "participant_metrics": "sdk.observability",
    "setup_logging": "sdk.observability",
    "Participant": "sdk.participant",
    "SagaDefinition": "sdk.saga",
    "SagaDefinitionError": "sdk.saga",
    "load_saga": "sdk.saga",
    "SagaResult": "sdk.saga.client",
    "RetryLater": "sdk.saga.step",
    "SagaContext": "sdk.saga.step",
    "SagaStep": "sdk.saga.step",
    "saga_step": "sdk.saga.step",
    "TccAction": "sdk.tcc",
    "TccArgumentError": "sdk.tcc",
    "TccContext": "sdk.tcc",
    "TccDefinitionError": "sdk.tcc",
    "BusinessError": "sdk.errors",
    "InfrastructureError": "sdk.errors",
    "UsageError": "sdk.errors",
    "TransportError": "sdk.errors",
    "Refused": "sdk.errors",
    "ServiceFault": "sdk.errors",
    "ClientSecurity": "sdk.rpc.security",
    "DefinitionError": "sdk.errors",
    "SagaStepError": "sdk.saga.errors",
}

__all__ = [
    "ActionCall",
    "ActionNotFound",
    "ActionReply",
    "BarrierOutcome",
    "BarrierRefused",
    "BusinessError",
    "ClientSecurity",
    "ConfigError",
    "CoordinatorClient",
    "DefinitionError",
    "GlobalTransaction",
    "InfrastructureError",
    "Interceptor",
    "MySqlBarrier",
    "NoEndpoints",
    "Participant",
    "PgBarrier",
    "Proceed",
    "Refused",
    "RegistryError",
    "RetryLater",
    "RollbackOnly",
    "RpcError",
    "SagaContext",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaResult",
    "SagaStep",
    "SagaStepError",
    "ServiceFault",
    "TccAction",
    "TccArgumentError",
    "TccContext",
    "TccDefinitionError",
    "TransportError",
    "TryFailed",
    "TxcError",
    "UsageError",
    "load_saga",
    "participant_metrics",
    "saga_step",
    "setup_logging",
    "tcc",
]


if not TYPE_CHECKING:  # hidden from mypy, so a name outside __all__ is a type error, not Any

    def __getattr__(name: str) -> Any:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module 'sdk' has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # next time a plain module attribute
        return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
