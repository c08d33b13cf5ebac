"""`txc call SERVICE ACTION --json '{...}'`: generic invocation of any registered service from the shell."""

from __future__ import annotations

import json

import typer

from sdk.registry import RegistryClient, ServiceClient
from txcoord.cli.common import DEFAULT_REGISTRY, fail, print_json, run


async def _call(registry_address: str, service: str, action: str, payload: object, timeout: float) -> object:
    registry = RegistryClient(registry_address)
    client = ServiceClient(registry, service)
    try:
        return await client.invoke(action, payload, timeout=timeout)
    finally:
        await client.close()
        await registry.close(deregister=False)


def call(
    service: str = typer.Argument(..., help="Registered service name."),
    action: str = typer.Argument(..., help="Action (method) of that service."),
    json_payload: str = typer.Option("{}", "--json", help="Request payload as JSON."),
    registry_address: str = typer.Option(DEFAULT_REGISTRY, "--registry", help="Registry HOST:PORT."),
    timeout: float = typer.Option(10.0, help="Deadline in seconds."),
) -> None:
    """Call SERVICE.ACTION with a JSON payload and print the JSON reply."""
    try:
        payload = json.loads(json_payload)
    except json.JSONDecodeError as exc:
        fail(f"--json: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    print_json(run(_call(registry_address, service, action, payload, timeout)))
