"""How the coordinator and participants name TCC actions and shape their bodies (both sides import this).

A TCC action ``debit`` of service ``bank`` is served as three generic JSON actions: ``debit`` (try),
``debit.confirm`` and ``debit.cancel``. Each body is ``{"gid": ..., "branch_id": ..., "args": {...}}``:
the coordinator hands confirm and cancel the same arguments the try got.

Phase 2 may also come batched, many branches in one call of the action ``txc.phase2``:
``{"items": [{"action": "debit", "op": "confirm", "gid": ..., "branch_id": ..., "args": {...}}, ...]}``,
answered by ``{"results": [{"ok": true, "barrier": "applied"} | {"ok": false, "code": "INTERNAL",
"error": "..."}, ...]}`` in the same order; each item runs as if it had been called on its own."""

from __future__ import annotations

from typing import Any, Literal

Op = Literal["try", "confirm", "cancel"]
OPS: tuple[Op, ...] = ("try", "confirm", "cancel")


def action_name(action: str, op: str) -> str:
    return action if op == "try" else f"{action}.{op}"


def envelope(gid: str, branch_id: str, args: Any, mac: str = "") -> dict[str, Any]:
    """The body of a try / confirm / cancel; ``mac`` is the coordinator's signature of it (sdk.branch_mac)."""
    body = {"gid": gid, "branch_id": branch_id, "args": args}
    if mac:
        body["mac"] = mac
    return body


PHASE2_BATCH_ACTION = "txc.phase2"
