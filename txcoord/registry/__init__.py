"""The service registry server: ``RegistryServer`` with an in-memory or PostgreSQL store."""

from txcoord.registry.memory_store import MemoryRegistryStore
from txcoord.registry.pg_store import PgRegistryStore
from txcoord.registry.service import REGISTRY_SERVICE_NAME, RegistryServer, store_from_url
from txcoord.registry.store import RegistryStore

__all__ = [
    "REGISTRY_SERVICE_NAME",
    "MemoryRegistryStore",
    "PgRegistryStore",
    "RegistryServer",
    "RegistryStore",
    "store_from_url",
]
