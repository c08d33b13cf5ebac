"""An HTTP participant over TLS in a secured deployment: it registers with its own identity's token, the
coordinator checks its certificate against the CA (and, with --tls-service-names, that it names the service)
and delivers confirms over https."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from demo.bank import credit, debit
from tests.integration.coordinator.cluster import Cluster, accounts, query
from tests.integration.coordinator.trust import SecureDeployment
from tests.integration.http.conftest import http_endpoint_secure
from tests.support import start_process
from tests.support.certs import make_pki
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


@pytest.mark.parametrize("names_its_service", [True, False])
async def test_an_https_participant_in_a_secured_deployment(
    cluster: Cluster, new_db: NewDb, tmp_path: Path, names_its_service: bool
) -> None:
    # without a certificate naming bank-b, bank-b's endpoint cannot prove it is bank-b: no confirm goes there
    pki = make_pki(tmp_path / "pki", services=["bank-a", "bank-b"] if names_its_service else ["bank-a"])
    secure = SecureDeployment(cluster, pki, tmp_path)
    secure.coordinator("--tls-service-names")
    db_a, db_b = await new_db(), await new_db()
    secure.bank("bank-a", db_a, "A=100")
    args = [sys.executable, "-m", "demo.bank", "--http", "--service", "bank-b", "--db", db_b]
    args += ["--registry", secure.address, "--listen", "127.0.0.1:0", "--accounts", "B=0", "--ttl", "2"]
    cluster.processes.append(start_process(args, cluster.log_dir, "https-bank-b", env=secure._env("bank-b")))
    base = await http_endpoint_secure(secure.address, "bank-b", secure.security(None))
    assert base.startswith("https://"), base
    async with secure.client("shop") as client, client.transaction(timeout=30) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=10)
        await tx.call(credit.on("bank-b"), account="B", amount=10)

    if not names_its_service:

        async def refused_at_the_handshake() -> bool:
            rows = await query(cluster.store, "SELECT last_error FROM txc_branch WHERE gid = $1", tx.gid)
            return any("certificate" in (r["last_error"] or "").lower() for r in rows)

        await eventually(refused_at_the_handshake, what="bank-b's confirm refused at the TLS handshake")
        assert await accounts(db_b) == {"B": (0, 0, 10)}  # announced by the try, never confirmed
        return

    async def confirmed() -> bool:
        return await accounts(db_b) == {"B": (10, 0, 0)}

    await eventually(confirmed, what="the confirm delivered over https")
    assert await accounts(db_a) == {"A": (90, 0, 0)}
