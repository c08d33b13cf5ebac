"""The HTTP/JSON contract as a participant in another language sees it (docs/http.md), checked at the wire: a
participant written here on aiohttp's own server (no sdk code serving it) records every request a real
coordinator and a caller send. The branch travels in the Txc-* headers with a signature that verifies, every
call carries a W3C traceparent, phase 2 goes batched to a participant that offers ``txc.phase2`` and single to one
that answers it 404, a retryable 500 is retried until the confirm succeeds, and the coordinator's calls to one
participant share one kept-alive connection."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from demo.bank import credit
from sdk.branch_mac import BranchSigner
from sdk.registry import RegistryClient
from tests.integration.coordinator.cluster import Cluster, tx_state
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
KEY = "branch-key-for-tests-0123456789"
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@pytest.fixture(autouse=True)
def branch_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", KEY)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any
    peer: tuple[str, int]


@dataclass
class Recorder:
    """A participant of ``credit`` (try / confirm / cancel) that records what it is sent."""

    service: str
    batch: bool  # whether it offers txc.phase2
    fail_first_confirm: bool = False
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        peer = request.transport.get_extra_info("peername") if request.transport else ("?", 0)
        action = request.match_info["action"]
        self.seen.append(Seen(action, {k.lower(): v for k, v in request.headers.items()}, body, tuple(peer[:2])))
        if action == "txc.phase2":
            if not self.batch:
                return web.json_response({"code": "UNIMPLEMENTED", "error": "no batch path"}, status=404)
            return web.json_response({"results": [{"ok": True, "barrier": "applied"} for _ in body["items"]]})
        if action == "credit.confirm" and self.fail_first_confirm and self.calls("credit.confirm") == 1:
            return web.json_response({"code": "INTERNAL", "error": "injected: try again"}, status=500)
        if action in ("credit", "credit.confirm", "credit.cancel"):
            answer = {"result": {"incoming": body.get("amount")}, "barrier": "applied"}
            if action == "credit":  # a try that applied proves it with a receipt, which the commit carries
                gid, branch = request.headers["Txc-Gid"], request.headers["Txc-Branch-Id"]
                answer["receipt"] = BranchSigner(KEY.encode()).receipt(gid, branch)
            return web.json_response(answer)
        return web.json_response({"code": "UNIMPLEMENTED", "error": action}, status=404)

    def calls(self, action: str) -> int:
        return sum(1 for s in self.seen if s.path == action)


async def _serve(recorder: Recorder) -> AsyncGenerator[str, None]:
    app = web.Application()
    app.router.add_post("/{action}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_wire_contract_headers_signature_traceparent_batching_retries_keep_alive(cluster: Cluster) -> None:
    cluster.coordinator("--retry-max", "0.5")
    single = Recorder("rec-single", batch=False, fail_first_confirm=True)
    batched = Recorder("rec-batch", batch=True)
    serving = [_serve(single), _serve(batched)]
    bases = [await anext(s) for s in serving]
    registry = RegistryClient(cluster.registry)
    try:
        for recorder, base in zip((single, batched), bases, strict=True):
            await registry.register(recorder.service, base, 5, {"protocol": "http"})
        async with cluster.client() as client:
            async with client.transaction(timeout=30) as tx:
                await tx.call(credit.on("rec-single"), account="S", amount=3)
                await tx.call(credit.on("rec-batch"), account="B", amount=4)

            async def confirmed() -> bool:
                return single.calls("credit.confirm") >= 2 and batched.calls("txc.phase2") >= 1

            await eventually(confirmed, what="both branches confirmed over HTTP")
            await eventually(lambda: _is(tx_state(cluster.store, tx.gid), "COMMITTED"), what="committed")
    finally:
        await registry.close()
        for s in serving:
            await s.aclose()

    signer = BranchSigner(KEY.encode())
    for recorder, args in ((single, {"account": "S", "amount": 3}), (batched, {"account": "B", "amount": 4})):
        tries = [s for s in recorder.seen if s.path == "credit"]
        assert len(tries) == 1, recorder.seen
        headers = tries[0].headers
        assert headers["txc-gid"] == tx.gid and tries[0].body == args
        branch = headers["txc-branch-id"]
        assert signer.verify(headers["txc-branch-signature"], tx.gid, branch, recorder.service, "credit", args)
        for seen in recorder.seen:  # the caller's try and every coordinator call: W3C trace context, JSON
            assert TRACEPARENT.match(seen.headers.get("traceparent", "")), (seen.path, seen.headers)
            assert seen.headers.get("content-type", "").startswith("application/json"), seen.headers

    # no batch path: 404 once, then single confirms; the 500 is retried until the confirm succeeds
    assert [s.path for s in single.seen[1:]] == ["txc.phase2", "credit.confirm", "credit.confirm"]
    confirms = [s for s in single.seen if s.path == "credit.confirm"]
    branch = single.seen[0].headers["txc-branch-id"]
    for confirm in confirms:
        assert confirm.body == {"account": "S", "amount": 3}
        assert confirm.headers["txc-gid"] == tx.gid and confirm.headers["txc-branch-id"] == branch
        mac = confirm.headers["txc-branch-signature"]
        assert signer.verify(mac, tx.gid, branch, "rec-single", "credit.confirm", confirm.body)
    # the coordinator's three calls to it came over one kept-alive connection
    assert len({s.peer for s in single.seen[1:]}) == 1, [s.peer for s in single.seen]

    # a batch path offered: the confirm travels as an item of txc.phase2, signed as the single call would be
    assert [s.path for s in batched.seen] == ["credit", "txc.phase2"]
    batch = batched.seen[1]
    assert "txc-gid" not in batch.headers  # the branches are in the items
    [item] = batch.body["items"]
    assert item["action"] == "credit" and item["op"] == "confirm" and item["gid"] == tx.gid
    assert item["args"] == {"account": "B", "amount": 4}
    assert signer.verify(item["mac"], tx.gid, item["branch_id"], "rec-batch", "credit.confirm", item["args"])


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected
