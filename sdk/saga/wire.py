"""How the coordinator and participants shape saga step calls (both sides import this).

A step's action is called as the generic JSON action named in the YAML (``flights.book`` → service
``flights``, action ``book``) with ``{"gid", "branch_id": <step id>, "args": <rendered input>}`` and answers
``{"result": <output>, "barrier": <outcome>}``. Its compensation is called the same way with the same args
plus ``"output"``: the action's recorded output, or null when the coordinator never saw it (the action may
not have run; the barrier then makes the compensation empty)."""

from __future__ import annotations

from typing import Any


def action_body(gid: str, step_id: str, args: Any) -> dict[str, Any]:
    return {"gid": gid, "branch_id": step_id, "args": args}


def compensation_body(gid: str, step_id: str, args: Any, output: Any) -> dict[str, Any]:
    return {"gid": gid, "branch_id": step_id, "args": args, "output": output}
