"""`txc bench tcc --protocol http`: the same banks also served over HTTP/JSON (ASGI under uvicorn), run in the
same rounds as the gRPC ones, direct and through the coordinator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from sdk.http.wire import HTTP, PROTOCOL_KEY
from sdk.registry import RegistryClient
from sdk.rpc import ClientSecurity

HTTP_SERVICES = {"bank-a": "bank-a-http", "bank-b": "bank-b-http"}


async def http_endpoints(registry: str, security: ClientSecurity, services: Iterable[str]) -> dict[str, str]:
    """Each service's base URL once it registered over HTTP (the process binds, then registers)."""
    client = RegistryClient(registry, security=security)
    found: dict[str, str] = {}
    try:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 60
        for service in services:
            while service not in found:
                for endpoint in await client.resolve(service):
                    if endpoint.metadata.get(PROTOCOL_KEY) == HTTP:
                        found[service] = endpoint.address
                if service not in found:
                    if loop.time() > give_up:
                        raise RuntimeError(f"bench: {service} did not register over HTTP within 60 s")
                    await asyncio.sleep(0.1)
    finally:
        await client.close(deregister=False)
    return found


def http_summary(grpc_tcc: dict[str, Any], grpc_direct: dict[str, Any], tcc: Any, direct: Any) -> dict[str, Any]:
    tcc_summary, direct_summary = tcc.summary(), direct.summary()

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    return {
        "tcc": tcc_summary,
        "baseline": direct_summary,
        # through the coordinator over HTTP vs the same calls made directly over HTTP, and vs gRPC direct
        "ratio": ratio(tcc_summary["txn_per_s"], direct_summary["txn_per_s"]),
        "ratio_vs_grpc_baseline": ratio(tcc_summary["txn_per_s"], grpc_direct["txn_per_s"]),
        # the target: HTTP participants at least 0.8x the gRPC figure
        "http_vs_grpc": ratio(tcc_summary["txn_per_s"], grpc_tcc["txn_per_s"]),
        "coordinator_cpu_ms_per_txn": tcc_summary["cpu_ms_per_txn"].get("coordinator", 0.0),
        "grpc_coordinator_cpu_ms_per_txn": grpc_tcc["cpu_ms_per_txn"].get("coordinator", 0.0),
    }


def report_http(console: Any, http: dict[str, Any]) -> None:
    t, b = http["tcc"], http["baseline"]
    console.print(
        f"HTTP participants: through coordinator {t['txn_per_s']} txn/s (p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, "
        f"errors {t['errors']}); direct over HTTP {b['txn_per_s']} txn/s"
    )
    console.print(
        f"HTTP ratio {http['ratio']} vs direct HTTP, {http['ratio_vs_grpc_baseline']} vs direct gRPC; "
        f"HTTP/gRPC through the coordinator {http['http_vs_grpc']} (target >= 0.8); coordinator CPU ms per txn: "
        f"HTTP {http['coordinator_cpu_ms_per_txn']}, gRPC {http['grpc_coordinator_cpu_ms_per_txn']}"
    )
