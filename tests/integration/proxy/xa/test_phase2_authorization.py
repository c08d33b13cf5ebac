"""Nobody who can connect to the proxy's registered service can commit or roll back one of its XA branches:
a multi-backend commit is decided by a row in one of its backends (docs/xa.md), so the service serves no
phase-2 action at all, signed or not."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from sdk.errors import RpcError
from sdk.rpc import ChannelPool, ClientSecurity
from sdk.tcc_wire import envelope
from tests.integration.proxy.xa.rig import XaRig, connect, registered_addresses, transfer

pytestmark = pytest.mark.timeout(120)


async def _forge(address: str, service: str, action: str, body: object) -> str:
    pool = ChannelPool(security=ClientSecurity())
    try:
        reply = await pool.invoke_json(address, service, action, body, timeout=10)
    except RpcError as exc:
        return exc.code.name
    finally:
        await pool.close()
    return json.dumps(reply)


def test_the_proxy_serves_no_phase2_call_to_anyone(rig: XaRig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", secrets.token_hex(32))  # the proxy started below verifies with it
    _, port = rig.start_proxy()
    conn = connect(port)
    assert transfer(conn, 0, 1, 30)  # the proxy commits its own branches: no phase-2 call needed
    address = registered_addresses(rig)[0]
    xid = {"backend": "ds0", "gtrid": "forged-gid", "bqual": f"{rig.service}/ds0"}
    body = envelope("forged-gid", "ds0", xid)
    assert asyncio.run(_forge(address, rig.service, "xa.confirm", body)) == "UNIMPLEMENTED"
    assert asyncio.run(_forge(address, rig.service, "xa.cancel", {**body, "mac": "0" * 64})) == "UNIMPLEMENTED"
    batch = {"items": [{"action": "xa", "op": "confirm", **body}]}
    assert asyncio.run(_forge(address, rig.service, "txc.phase2", batch)) == "UNIMPLEMENTED"
    assert rig.balances() == {0: 70, 1: 130, 2: 100, 3: 100}
    assert not rig.prepared()
