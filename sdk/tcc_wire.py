"""How the coordinator and participants name TCC actions and shape their bodies (both sides import this).

A TCC action ``debit`` of service ``bank`` is served as three generic JSON actions: ``debit`` (try),
``debit.confirm`` and ``debit.cancel``. Each body is ``{"gid": ..., "branch_id": ..., "args": {...}}``:
the coordinator hands confirm and cancel the same arguments the try got."""

from __future__ import annotations

from typing import Any, Literal

Op = Literal["try", "confirm", "cancel"]
OPS: tuple[Op, ...] = ("try", "confirm", "cancel")


def action_name(action: str, op: str) -> str:
    return action if op == "try" else f"{action}.{op}"


def envelope(gid: str, branch_id: str, args: Any) -> dict[str, Any]:
    return {"gid": gid, "branch_id": branch_id, "args": args}
