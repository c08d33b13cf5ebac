"""`txc call SERVICE ACTION --json '{...}'`: generic invocation of any registered service from the shell.

A TCC try is a branch of a global transaction: with ``--gid`` the call joins that live transaction (the
branch is registered with the coordinator first, which signs it, and the coordinator confirms or cancels it
with the rest). Its output is the try's reply with the ``branch_id`` it ran as: with a branch key the reply
carries the try's ``receipt``, which whoever commits the transaction passes on (``receipts`` in the commit,
by branch id); a coordinator with a branch key rolls back a commit missing one. Without ``--gid`` the
payload is sent as is; a participant with a branch key refuses it, since no coordinator registered it
(sdk.branch_mac)."""

from __future__ import annotations

import json
import os

import typer

from sdk.coordinator_client import CoordinatorClient
from sdk.errors import Refused
from sdk.registry import RegistryClient, ServiceClient
from sdk.registry.model import ACTIONS_KEY
from sdk.rpc import parse_address, txn_context
from sdk.tcc_wire import envelope
from txcoord.cli.common import COORDINATOR_ENV, DEFAULT_REGISTRY, fail, print_json, run

GID_HINT = (
    "pass --gid GID of a transaction in BEGIN (`txc tx list --state BEGIN`), or send the whole envelope "
    "{gid, branch_id, args} in --json"
)


NEEDS_GID = "gid: must be a non-empty string"


async def _call(registry_address: str, service: str, action: str, payload: object, timeout: float) -> object:
    registry = RegistryClient(registry_address)
    client = ServiceClient(registry, service)
    try:
        endpoints = await registry.resolve(service)
        if not endpoints:  # say so now, not after the whole --timeout
            fail(f"no live endpoint of service {service!r} in registry {registry_address} (see `txc registry ls`)")
        served = {name for e in endpoints for name in e.metadata.get(ACTIONS_KEY, "").split(",")}
        envelope_given = isinstance(payload, dict) and "gid" in payload
        if f"{action}.confirm" in served and not envelope_given:
            fail(f"{service}.{action} is a TCC try: it runs as a branch of a live global transaction; {GID_HINT}")
        try:
            return await client.invoke(action, payload, timeout=timeout)
        except Refused as exc:
            if NEEDS_GID in exc.details:  # a saga step or a TCC phase: it takes the barrier's envelope
                fail(f"{exc.details}: {service}.{action} is a transaction's phase or saga step; {GID_HINT}")
            raise
    finally:
        await client.close()
        await registry.close(deregister=False)


async def _call_in(
    coordinator: str, registry: str, gid: str, branch_id: str, service: str, action: str, args: object, timeout: float
) -> object:
    async with CoordinatorClient(coordinator, registry=registry, timeout=timeout, session=False) as client:
        state = (await client.query(gid)).transaction.state  # NOT_FOUND: no such transaction
        if state != "BEGIN":
            fail(f"--gid {gid}: the transaction is {state}; a branch can join only while it is BEGIN")
        _state, mac = await client.register_signed_branch(gid, branch_id, service, action, args, tx_timeout=timeout)
        with txn_context(gid):
            reply = await client.invoke(service, action, envelope(gid, branch_id, args, mac), timeout=timeout)
        # the branch the reply (and its receipt, for the commit) belongs to
        return {"branch_id": branch_id, **reply} if isinstance(reply, dict) else reply


def call(
    service: str = typer.Argument(..., help="Registered service name."),
    action: str = typer.Argument(..., help="Action (method) of that service."),
    json_payload: str = typer.Option("{}", "--json", help="Request payload (with --gid: the try's arguments)."),
    gid: str | None = typer.Option(
        None,
        "--gid",
        help="Run ACTION as a TCC try in this live transaction; prints its branch_id and (with a branch key) the "
        "receipt to pass to the commit.",
    ),
    branch_id: str | None = typer.Option(None, "--branch", help="Branch id for --gid (default: a new one)."),
    coordinator: str = typer.Option(
        "127.0.0.1:7070", "--coordinator", envvar=COORDINATOR_ENV, help="Coordinator HOST:PORT for --gid."
    ),
    registry_address: str = typer.Option(DEFAULT_REGISTRY, "--registry", help="Registry HOST:PORT."),
    timeout: float = typer.Option(10.0, help="Deadline in seconds."),
) -> None:
    """Call SERVICE.ACTION with a JSON payload and print the JSON reply."""
    if not timeout > 0:
        fail(f"--timeout: must be a positive number of seconds, got {timeout:g}")
    for option, address in (("--registry", registry_address), ("--coordinator", coordinator)):
        for one in address.split(","):
            try:
                parse_address(one.strip(), field=option)
            except ValueError as exc:
                fail(str(exc))
    try:
        payload = json.loads(json_payload)
    except json.JSONDecodeError as exc:
        fail(f"--json: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    if gid is None:
        if branch_id is not None:
            fail("--branch: only with --gid")
        print_json(run(_call(registry_address, service, action, payload, timeout)))
        return
    if not isinstance(payload, dict):
        fail("--json: with --gid the payload is the try's arguments, a JSON object")
    branch = branch_id or f"call-{os.urandom(6).hex()}"
    print_json(run(_call_in(coordinator, registry_address, gid, branch, service, action, payload, timeout)))
