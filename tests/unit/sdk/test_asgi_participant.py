"""A Participant served as an ASGI app runs the same handlers as over gRPC: its interceptors see one ActionCall
per phase with the branch taken from the Txc-* headers, the branch-signature check comes first, and a try that
says no is a 422 (a business refusal). No server: the app is called in process."""

from __future__ import annotations

from typing import Any

import httpx

from sdk import ActionCall, ActionReply, Participant, Proceed, TccContext, tcc
from sdk.branch_mac import BranchSigner
from sdk.rpc.context import current_traceparent

KEY = b"branch-key-for-tests-0123456789"
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


@tcc
async def reserve(ctx: TccContext[None], item: str, qty: int = 1) -> dict[str, int]:
    if qty > 10:
        raise ValueError(f"only 10 {item} left")
    return {item: qty}


@reserve.confirm
async def _confirm(ctx: TccContext[None], item: str, qty: int = 1) -> None:
    return None


@reserve.cancel
async def _cancel(ctx: TccContext[None], item: str, qty: int = 1) -> None:
    return None


def _headers(gid: str, action: str, args: dict[str, Any], signer: BranchSigner | None) -> dict[str, str]:
    headers = {"Txc-Gid": gid, "Txc-Branch-Id": "1", "traceparent": TRACEPARENT}
    if signer is not None:
        headers["Txc-Branch-Signature"] = signer.sign(gid, "1", "stock", action, args)
    return headers


async def test_the_asgi_app_runs_the_participants_interceptors_signature_check_and_error_vocabulary() -> None:
    seen: list[ActionCall] = []
    traces: list[str | None] = []

    async def capture(call: ActionCall, proceed: Proceed) -> ActionReply:
        seen.append(call)
        traces.append(current_traceparent.get())  # the caller's trace context, from the traceparent header
        return await proceed(call)

    signer = BranchSigner(KEY)
    app = Participant("stock", [reserve], interceptors=[capture], signer=signer).asgi()
    args = {"item": "pen", "qty": 3}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stock") as http:
        tried = await http.post("/reserve", json=args, headers=_headers("g1", "reserve", args, signer))
        confirmed = await http.post(
            "/reserve.confirm", json=args, headers=_headers("g1", "reserve.confirm", args, signer)
        )
        forged = await http.post("/reserve.cancel", json=args, headers=_headers("g1", "reserve.cancel", args, None))
        too_many = {"item": "pen", "qty": 11}
        refused = await http.post("/reserve", json=too_many, headers=_headers("g2", "reserve", too_many, signer))
    # the try's reply carries its receipt (the caller's proof for the commit); a confirm's carries none
    receipt = signer.receipt("g1", "1")
    assert tried.status_code == 200 and tried.json() == {"result": {"pen": 3}, "barrier": "applied", "receipt": receipt}
    assert confirmed.status_code == 200 and "receipt" not in confirmed.json(), confirmed.text
    assert forged.status_code == 403 and forged.json()["code"] == "PERMISSION_DENIED"
    assert refused.status_code == 422 and refused.json()["code"] == "FAILED_PRECONDITION", refused.text
    assert "only 10 pen left" in refused.json()["error"]
    # the refused-by-signature call never reached an interceptor; the others each made one ActionCall
    assert [(c.gid, c.op, c.action, c.arguments) for c in seen] == [
        ("g1", "try", "reserve", args),
        ("g1", "confirm", "reserve", args),
        ("g2", "try", "reserve", too_many),
    ]
    assert traces == [TRACEPARENT] * 3
