"""TCC in the coordinator: the first transaction mode (sagas, the second, are in ``txcoord.saga``; what both run on
is in ``txcoord.engine``). Branches are registered, a decision is recorded, phase 2 delivers it until done."""

from txcoord.tcc.coordinator import Coordinator, CoordinatorSettings
from txcoord.tcc.delivery import RegistryDelivery
from txcoord.tcc.phase2 import Phase2Driver
from txcoord.tcc.recovery import TccRecovery
from txcoord.tcc.servicer import CoordinatorServicer
from txcoord.tcc.store import PgStore

__all__ = [
    "Coordinator",
    "CoordinatorServicer",
    "CoordinatorSettings",
    "PgStore",
    "Phase2Driver",
    "RegistryDelivery",
    "TccRecovery",
]
