"""Sagas in the coordinator: the second transaction mode of the same engine (same store, leases, recovery)."""

from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.recovery import SagaRecovery
from txcoord.saga.service import SagaService
from txcoord.saga.servicer import SagaServicer
from txcoord.saga.store import SagaStore

__all__ = ["SagaOrchestrator", "SagaRecovery", "SagaService", "SagaServicer", "SagaStore"]
