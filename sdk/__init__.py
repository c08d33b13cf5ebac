"""txcoord sdk: what user services and every txcoord process import."""

from sdk.errors import ActionNotFound, ConfigError, NoEndpoints, RegistryError, RpcError, TxcError
from sdk.registry import Endpoint, Lease, RegistryClient, ServiceClient
from sdk.rpc import ChannelPool, RpcServer, current_gid, txn_context
from sdk.service_host import ServiceHost

__all__ = [
    "ActionNotFound",
    "ChannelPool",
    "ConfigError",
    "Endpoint",
    "Lease",
    "NoEndpoints",
    "RegistryClient",
    "RegistryError",
    "RpcError",
    "RpcServer",
    "ServiceClient",
    "ServiceHost",
    "TxcError",
    "current_gid",
    "txn_context",
]
