"""The coordinator tests' databases and processes, and HTTP participants beside gRPC ones."""

from __future__ import annotations

import sys
from pathlib import Path

from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity
from tests.integration.coordinator.cluster import Cluster
from tests.integration.coordinator.conftest import cluster, new_db, store, store_template
from tests.support import ChildProcess, start_process
from tests.support.polling import eventually

__all__ = ["cluster", "new_db", "store", "store_template"]


async def http_bank(cluster: Cluster, service: str, db: str, accounts: str = "", *extra: str) -> ChildProcess:
    """``demo.bank`` served over HTTP (ASGI under uvicorn); returns once its base URL is in the registry."""
    args = [sys.executable, "-m", "demo.bank", "--http", "--service", service, "--db", db, "--registry"]
    args += [cluster.registry, "--listen", "127.0.0.1:0", "--accounts", accounts, "--audit", "--ttl", "2", *extra]
    proc = start_process(args, cluster.log_dir, f"http-{service}-{len(cluster.processes)}")
    cluster.processes.append(proc)
    proc.listen = await http_endpoint(cluster.registry, service)  # type: ignore[attr-defined]
    return proc


async def http_endpoint(registry: str, service: str, *, other_than: str = "") -> str:
    """The base URL ``service`` registered with protocol http (a new one, when ``other_than`` is given)."""
    return await http_endpoint_secure(registry, service, ClientSecurity(), other_than=other_than)


async def http_endpoint_secure(registry: str, service: str, security: ClientSecurity, *, other_than: str = "") -> str:
    """As :func:`http_endpoint`, asking a registry that needs ``security``."""
    client = RegistryClient(registry, security=security)
    try:

        async def registered() -> str | None:
            for endpoint in await client.resolve(service):
                if endpoint.metadata.get("protocol") == "http" and endpoint.address != other_than:
                    return endpoint.address
            return None

        found: str = await eventually(registered, what=f"{service} registered over HTTP")
        return found
    finally:
        await client.close(deregister=False)


NODE_BANK = Path(__file__).resolve().parents[3] / "examples" / "node" / "bank.js"


async def node_bank(
    cluster: Cluster, rest: str, service: str, db: str, accounts: str = "", *extra: str
) -> ChildProcess:
    """The Node.js example participant (examples/node), registered through the coordinator's REST API at
    ``rest``; returns once its base URL is in the registry (a new one when it restarts)."""
    previous = [p.listen for p in cluster.processes if getattr(p, "node_service", None) == service]  # type: ignore[attr-defined]
    args = ["node", str(NODE_BANK), "--service", service, "--db", db, "--coordinator", f"http://{rest}"]
    args += ["--accounts", accounts, "--ttl", "2", *extra]
    proc = start_process(args, cluster.log_dir, f"node-{service}-{len(cluster.processes)}")
    cluster.processes.append(proc)
    proc.node_service = service  # type: ignore[attr-defined]
    proc.listen = await http_endpoint(  # type: ignore[attr-defined]
        cluster.registry, service, other_than=previous[-1] if previous else ""
    )
    return proc
