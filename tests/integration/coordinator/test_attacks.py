"""Issue #16's attacks, each tried through real processes with TLS, per-identity credentials and a branch key
on: each is refused, the banks' balances are what the legitimate work alone leaves, and nothing stays frozen."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest

from demo.bank import credit, debit
from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.coordinator_client import CoordinatorClient, RollbackOnly
from sdk.errors import RpcError
from sdk.rpc import ChannelPool, ClientSecurity
from sdk.tcc_wire import envelope
from tests.integration.coordinator.cluster import Cluster, accounts, query, tx_state
from tests.integration.coordinator.trust import SecureDeployment, refused
from tests.support import ChildProcess, create_pg_database, drop_pg_database
from tests.support.certs import make_pki
from tests.support.polling import eventually
from txcoord.store.migrations import upgrade

NewDb = Callable[..., Awaitable[str]]
DENIED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureDeployment]:
    """One secure deployment for the module's attacks (each test checks its own balance changes): a coordinator
    on its own store, bank-a (A=1000) and bank-b (B=0), each process with its identity."""
    directory = tmp_path_factory.mktemp("attacks")
    databases = [asyncio.run(create_pg_database("txc_attacks")) for _ in range(3)]
    store, db_a, db_b = databases
    upgrade(store)
    processes: list[ChildProcess] = []
    try:
        secure = SecureDeployment(Cluster(directory, processes, store), make_pki(directory / "pki"), directory)
        secure.coordinator()
        secure.db_a, secure.db_b = db_a, db_b  # type: ignore[attr-defined]
        secure.bank_a = secure.bank("bank-a", db_a, "A=1000")  # type: ignore[attr-defined]
        secure.bank("bank-b", db_b, "B=0")
        yield secure
    finally:
        for proc in processes:
            if proc.alive():
                proc.kill()
        for dsn in databases:
            asyncio.run(drop_pg_database(dsn))


async def _balances(secure: SecureDeployment) -> tuple[dict[str, tuple[int, int, int]], ...]:
    return await accounts(secure.db_a), await accounts(secure.db_b)  # type: ignore[attr-defined]


Balances = tuple[int, int]  # A's and B's


@pytest.fixture
async def before(secure: SecureDeployment) -> Balances:
    """Balances of A and B as this test starts (earlier tests of the module moved money legitimately)."""
    (a, b) = await _balances(secure)
    assert a["A"][1:] == (0, 0) and b["B"][1:] == (0, 0), "an earlier test left money frozen"
    return a["A"][0], b["B"][0]


async def _settled(secure: SecureDeployment, before: Balances, moved: int) -> None:
    """``moved`` went from A to B since ``before``, and nothing is frozen or incoming (polled: phase 2 is
    asynchronous)."""
    a, b = before[0] - moved, before[1] + moved

    async def settled() -> bool:
        return await _balances(secure) == ({"A": (a, 0, 0)}, {"B": (b, 0, 0)})

    await eventually(settled, what=f"A={a} B={b} with nothing frozen (now {await _balances(secure)})")


async def test_attack_1_a_branch_re_registered_with_other_arguments_is_refused(
    secure: SecureDeployment, before: Balances
) -> None:
    a_address: str = secure.bank_a.listen  # type: ignore[attr-defined]
    pool = ChannelPool(security=secure.security(None))
    async with secure.client("shop") as shop:
        gid = shop.transaction(timeout=60).gid
        big = {"account": "A", "amount": 300}
        _state, mac = await shop.register_signed_branch(gid, "1", "bank-a", "debit", big, tx_timeout=60)
        # A retry (same everything, other JSON spelling) gets the first registration's signature.
        spelled = {"amount": 300, "account": "A"}
        assert (await shop.register_signed_branch(gid, "1", "bank-a", "debit", spelled, tx_timeout=60))[1] == mac
        # Anything else is refused, naming the field; the first registration stays.
        small = {"account": "A", "amount": 1}
        for service, action, payload, field in (
            ("bank-a", "debit", small, "payload"),
            ("bank-b", "debit", big, "service"),
            ("bank-a", "credit", big, "action"),
        ):
            error = await refused(shop.register_signed_branch(gid, "1", service, action, payload, tx_timeout=60))
            assert error.code == grpc.StatusCode.ALREADY_EXISTS and f"different {field}" in error.details, error
        # The registered try is the only one the participant serves: the signature does not fit amount 1.
        error = await refused(pool.invoke_json(a_address, "bank-a", "debit", envelope(gid, "1", small, mac)))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED
        detail = await shop.query(gid)
        assert [json.loads(b.payload_json) for b in detail.branches] == [big]
        await shop.rollback(gid, "attack 1 over")
    await pool.close()
    await _settled(secure, before, 0)


async def test_attack_2_only_the_proxy_that_began_it_reports_a_transaction_finished(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    async with secure.client("shop") as shop:
        tx = shop.transaction(timeout=60)
        await tx.call(debit.on("bank-a"), account="A", amount=10)
        await tx.call(credit.on("bank-b"), account="B", amount=10)
        # phase 2 waits for a Finish; the tries' receipts come from their replies
        assert await shop.commit(tx.gid, phase2_delay=60, receipts=tx.receipts) == "COMMITTING"
        for identity, expected in (
            (None, grpc.StatusCode.UNAUTHENTICATED),
            ("mallory", grpc.StatusCode.PERMISSION_DENIED),
            ("bank-a", grpc.StatusCode.PERMISSION_DENIED),
            ("shop", grpc.StatusCode.PERMISSION_DENIED),  # a caller is not the proxy that XA-committed
            ("proxy", grpc.StatusCode.PERMISSION_DENIED),  # a proxy, but not the one that began it
        ):
            async with secure.client(identity) as other:
                assert (await refused(other.finish(tx.gid))).code == expected, identity
        assert await tx_state(secure.cluster.store, tx.gid) == "COMMITTING"
        async with secure.client("ops") as ops:  # the operator drives phase 2 now instead
            await ops.retry(tx.gid)
    await _settled(secure, before, 10)
    assert await tx_state(secure.cluster.store, tx.gid) == "COMMITTED"
    # The proxy reports its own transaction finished, and the timeline says who did.
    async with secure.client("proxy") as proxy:
        gid = proxy.transaction(timeout=60).gid
        xid = {"backend": "ds0", "gtrid": gid, "bqual": "proxy-xa/ds0"}
        await proxy.register_branch(gid, "ds0", "proxy-xa", "xa", xid, tx_timeout=60, kind="XA")
        assert await proxy.commit(gid, phase2_delay=60) == "COMMITTING"
        assert await proxy.finish(gid) == "COMMITTED"
    events = await query(secure.cluster.store, "SELECT event, detail FROM txc_event WHERE gid = $1", gid)
    assert ("finished_by_caller", "proxy") in [(e["event"], e["detail"]) for e in events]


async def test_attack_3_nobody_else_rolls_back_or_skips_the_cancels_of_a_transaction(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    async with secure.client("shop") as shop:
        tx = shop.transaction(timeout=60)
        await tx.call(debit.on("bank-a"), account="A", amount=25)
        assert (await _balances(secure))[0] == {"A": (before[0] - 25, 25, 0)}
        for identity in (None, "mallory", "bank-a"):
            async with secure.client(identity) as other:
                error = await refused(other.rollback(tx.gid, "hijack", untried=["1", tx.gid]))
                assert error.code in DENIED, (identity, error)
                assert (await refused(other.abort(tx.gid))).code in DENIED, identity
                assert (await refused(other.commit(tx.gid))).code in DENIED, identity
        assert await tx_state(secure.cluster.store, tx.gid) == "BEGIN"
        # Even its owner cannot skip the cancel of a branch whose try applied by calling it "untried": its
        # participant is there, so the cancel is sent, and it gives the reservation back.
        await shop.rollback(tx.gid, "the owner rolls back", untried=["1"])
    await _settled(secure, before, 0)
    events = await query(secure.cluster.store, "SELECT event FROM txc_event WHERE gid = $1", tx.gid)
    assert "cancel_skipped" not in {e["event"] for e in events}


async def test_nobody_else_begins_or_joins_a_transaction_and_only_a_proxy_reports_its_own_xa(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    """Another caller may not add a branch (a credit to itself, say) to a transaction someone else began, nor
    claim its gid with Begin: on the session stream and as unary calls alike. A caller may not report XA
    outcomes, and a proxy may report only for the service it registers."""
    credit_b = {"account": "B", "amount": 20}
    async with secure.client("shop") as shop:
        tx = shop.transaction(timeout=60)
        await tx.call(debit.on("bank-a"), account="A", amount=20)
        for session in (True, False):
            security = secure.security("mallory")
            async with CoordinatorClient(secure.address, timeout=10.0, session=session, security=security) as mallory:
                error = await refused(mallory.register_branch(tx.gid, "2", "bank-b", "credit", credit_b, tx_timeout=60))
                assert error.code == grpc.StatusCode.PERMISSION_DENIED and "shop" in error.details, (session, error)
                error = await refused(mallory.begin(tx.gid, 60))
                assert error.code == grpc.StatusCode.PERMISSION_DENIED, (session, error)
        detail = await shop.query(tx.gid)
        assert [(b.branch_id, b.service) for b in detail.branches] == [("1", "bank-a")]  # nothing joined
        outcome = {
            "gid": f"{tx.gid}-xa",
            "committed": True,
            "service": "proxy-xa",
            "decider": "ds0",
            "branches": [{"backend": "ds0", "gtrid": f"{tx.gid}-xa", "bqual": "proxy-xa/ds0"}],
        }
        error = await refused(shop.report_xa([outcome]))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and "not a proxy" in error.details, error
        async with secure.client("proxy") as proxy:
            error = await refused(proxy.report_xa([{**outcome, "service": "bank-a"}]))
            assert error.code == grpc.StatusCode.PERMISSION_DENIED and "bank-a" in error.details, error
        assert await tx_state(secure.cluster.store, f"{tx.gid}-xa") is None
        assert await tx_state(secure.cluster.store, tx.gid) == "BEGIN"
        await shop.rollback(tx.gid, "the owner rolls back")
    await _settled(secure, before, 0)


SAGA = """
name: book_trip
steps:
  - id: pay
    action: bank-a.debit
    compensate: bank-a.debit.cancel
    input: {account: A, amount: 999999}
"""


async def test_attack_4_only_an_admin_registers_saga_definitions(secure: SecureDeployment, before: Balances) -> None:
    for identity in (None, "shop", "bank-a", "proxy"):
        async with secure.client(identity) as other:
            assert (await refused(other.register_saga(SAGA, "evil.yaml"))).code in DENIED, identity
    rows = await query(secure.cluster.store, "SELECT count(*) AS n FROM txc_saga_definition")
    assert rows[0]["n"] == 0
    await _settled(secure, before, 0)


async def test_attack_5_a_lease_belongs_to_its_registrant_and_a_service_to_its_identity(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    lister = secure.registry("bank-b")
    (victim,) = await lister.resolve("bank-a")

    def meta(identity: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {secure.tokens[identity]}"),)

    async with grpc.aio.secure_channel(secure.address, secure.tls_credentials()) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)
        hijack = registry_pb2.RegisterRequest(
            service="bank-a", address="attacker.example:443", ttl_seconds=60, lease_id=victim.lease_id
        )
        # Another participant may not register bank-a at all, nor take bank-a's lease for its own service.
        for identity, request in (
            ("bank-b", hijack),
            ("shop", hijack),
            (
                "bank-b",
                registry_pb2.RegisterRequest(
                    service="bank-b", address="127.0.0.1:9", ttl_seconds=60, lease_id=victim.lease_id
                ),
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.Register(request, metadata=meta(identity), timeout=5)
            assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, (identity, raised.value.details())
        # Its keep-alives and deregistration do not reach another identity's lease.
        gone = await stub.Deregister(registry_pb2.DeregisterRequest(lease_id=victim.lease_id), metadata=meta("bank-b"))
        assert not gone.found
        stream = stub.KeepAlive(metadata=meta("bank-b"))
        await stream.write(registry_pb2.KeepAliveRequest(lease_id=victim.lease_id))
        assert not (await stream.read()).found
        await stream.done_writing()
    try:
        assert [(e.address, e.lease_id) for e in await lister.resolve("bank-a")] == [(victim.address, victim.lease_id)]
    finally:
        await lister.close(deregister=False)
    # Money still moves to the real bank-a.
    async with secure.client("shop") as shop, shop.transaction(timeout=30) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=5)
        await tx.call(credit.on("bank-b"), account="B", amount=5)
    await _settled(secure, before, 5)


async def test_a_caller_enlists_only_its_services_and_credentials_rotate_without_a_restart(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    async with secure.client("shop") as shop:
        error = await refused(shop.register_branch("g-enlist", "1", "bank-z", "debit", {}, tx_timeout=30))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and "bank-z" in error.details
    # Rotation: a second token for shop is added to the file; the running coordinator takes it, no restart.
    rotated = "shop-rotated-token-0123456789"
    secure.write_credentials({"shop": [rotated]})
    security = ClientSecurity(ca=secure.pki.ca, token=rotated)

    async def accepted() -> bool:
        async with CoordinatorClient(secure.address, timeout=5.0, security=security) as client:
            try:
                await client.begin(f"g-rotated-{time.monotonic_ns()}", 30)
            except RpcError as exc:
                assert exc.code == grpc.StatusCode.PERMISSION_DENIED, exc
                return False
            return True

    await eventually(accepted, what="the rotated token accepted without a restart")
    assert await tx_state(secure.cluster.store, "g-enlist") is None  # the refused registration began nothing
    await _settled(secure, before, 0)


async def test_attack_6_a_cancel_whose_try_never_applied_succeeds_whatever_its_arguments(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    async with secure.client("shop") as shop:
        gid = shop.transaction(timeout=60).gid
        await shop.register_branch(gid, "1", "bank-a", "debit", {"not": "an argument of debit"}, tx_timeout=60)
        await shop.rollback(gid, "no try was ever sent")

        async def rolled_back() -> bool:
            return await tx_state(secure.cluster.store, gid) == "ROLLED_BACK"

        await eventually(rolled_back, what="an empty cancel despite undecodable arguments (no ROLLBACK_FAILED)")
        # Register and commit with no try at all: no receipt, so it rolls back instead of an alert.
        unused = shop.transaction(timeout=60).gid
        await shop.register_branch(unused, "1", "bank-a", "debit", {"account": "A", "amount": 5}, tx_timeout=60)
        with pytest.raises(RollbackOnly, match=r"without a try receipt for branch 1 \(bank-a.debit\)"):
            await shop.commit(unused)

        async def reversed_commit() -> bool:
            return await tx_state(secure.cluster.store, unused) == "ROLLED_BACK"

        await eventually(reversed_commit, what="a commit with no try rolled back (no COMMIT_FAILED)")
    people = await query(secure.cluster.store, "SELECT gid FROM txc_event WHERE event = 'needs_person'")
    assert {p["gid"] for p in people} & {gid, unused} == set()
    await _settled(secure, before, 0)


async def test_attack_7_a_retried_try_whose_first_attempt_applied_returns_the_first_result(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    a_address: str = secure.bank_a.listen  # type: ignore[attr-defined]
    pool = ChannelPool(security=secure.security(None))
    args = {"account": "A", "amount": 40}
    async with secure.client("shop") as shop:
        tx = shop.transaction(timeout=60)
        _state, mac = await shop.register_signed_branch(tx.gid, "1", "bank-a", "debit", args, tx_timeout=60)
        body = envelope(tx.gid, "1", args, mac)
        first = await pool.invoke_json(a_address, "bank-a", "debit", body, timeout=10)
        again = await pool.invoke_json(a_address, "bank-a", "debit", body, timeout=10)  # its reply was "lost"
        receipt = first["receipt"]  # the proof the try applied, for the commit; the same on the duplicate
        assert first == {"result": {"reserved": 40}, "barrier": "applied", "receipt": receipt}
        assert again == {"result": {"reserved": 40}, "barrier": "duplicate", "receipt": receipt}
        assert (await _balances(secure))[0] == {"A": (before[0] - 40, 40, 0)}  # reserved once
        tx.branches.append(("1", "bank-a", "debit"))  # the SDK numbers the next branch after it
        tx.receipts["1"] = receipt
        await tx.call(credit.on("bank-b"), account="B", amount=40)
        await tx.commit()
    await pool.close()
    await _settled(secure, before, 40)


async def test_a_commit_with_a_branch_whose_try_did_not_succeed_rolls_back_without_an_alert(
    secure: SecureDeployment,
    before: Balances,
) -> None:
    """A caller with its own identity tries branch 1 properly, never tries branch 2, and commits with branch 1's
    receipt only, or with branch 1's receipt shown for branch 2 too: each commit is decided a rollback, naming
    branch 2, and its cancels run; nobody is asked to decide anything."""
    a_address: str = secure.bank_a.listen  # type: ignore[attr-defined]
    pool = ChannelPool(security=secure.security(None))
    debit_a, credit_b = {"account": "A", "amount": 30}, {"account": "B", "amount": 30}
    gids = []
    async with secure.client("shop") as shop:
        for forged in (False, True):
            gid = shop.transaction(timeout=60).gid
            gids.append(gid)
            _state, mac = await shop.register_signed_branch(gid, "1", "bank-a", "debit", debit_a, tx_timeout=60)
            tried = await pool.invoke_json(a_address, "bank-a", "debit", envelope(gid, "1", debit_a, mac))
            assert tried["barrier"] == "applied"
            assert (await _balances(secure))[0] == {"A": (before[0] - 30, 30, 0)}  # reserved by the try
            await shop.register_signed_branch(gid, "2", "bank-b", "credit", credit_b, tx_timeout=60)  # never tried
            receipts = {"1": tried["receipt"], **({"2": tried["receipt"]} if forged else {})}
            with pytest.raises(RollbackOnly, match=r"without a try receipt for branch 2 \(bank-b.credit\)"):
                await shop.commit(gid, receipts=receipts)
            detail = await shop.query(gid)
            assert detail.transaction.reason.startswith("commit without a try receipt for branch 2 (bank-b.credit)")
            await _settled(secure, before, 0)  # the debit's reservation is given back by its cancel

            async def rolled_back(gid: str = gid) -> bool:
                return await tx_state(secure.cluster.store, gid) == "ROLLED_BACK"

            await eventually(rolled_back, what="the refused commit rolled back")
    await pool.close()
    events = await query(
        secure.cluster.store, "SELECT gid, branch_id, event, detail FROM txc_event WHERE gid = ANY($1)", gids
    )
    assert "needs_person" not in {e["event"] for e in events}
    refused_events = [(e["gid"], e["branch_id"], e["detail"]) for e in events if e["event"] == "commit_refused"]
    assert [(g, b) for g, b, _d in refused_events] == [(gids[0], "2"), (gids[1], "2")]
    assert all(d.startswith("shop committed without a receipt") for _g, _b, d in refused_events)  # who did it
    await _settled(secure, before, 0)


async def test_over_tls_a_registry_entry_alone_cannot_send_a_services_calls_to_another_host(
    cluster: Cluster, tmp_path: Path, new_db: NewDb
) -> None:
    secure = SecureDeployment(cluster, make_pki(tmp_path / "pki", services=("bank-a", "bank-b")), tmp_path)
    secure.coordinator("--tls-service-names")
    db_a, db_b = await new_db(), await new_db()
    bank_a = secure.bank("bank-a", db_a, "A=100")
    bank_b = secure.bank("bank-b", db_b, "B=0")
    async with secure.client("shop") as shop:
        tx = shop.transaction(timeout=120)
        await tx.call(debit.on("bank-a"), account="A", amount=30)
        await tx.call(credit.on("bank-b"), account="B", amount=30)
        bank_a.kill()  # its lease lapses; meanwhile an entry for bank-a points at bank-b's host
        ops = secure.registry("ops")
        try:
            fake = await ops.register("bank-a", bank_b.listen, 30.0)  # type: ignore[attr-defined]

            async def only_the_fake() -> bool:
                return [e.address for e in await ops.resolve("bank-a")] == [fake.address]

            await eventually(only_the_fake, what="bank-a's own lease lapsed; only the fake entry left")
            await tx.commit()

            async def refused_by_name() -> bool:
                detail = await shop.query(tx.gid)
                errors = [b.last_error for b in detail.branches if b.branch_id == "1"]
                return bool(errors) and "Hostname Verification" in errors[0]  # bank-b's certificate names bank-b

            await eventually(refused_by_name, what="the confirm refused at the TLS handshake, not by bank-b")
            assert await tx_state(cluster.store, tx.gid) == "COMMITTING"
            await ops.deregister(fake)
        finally:
            await ops.close(deregister=False)
        secure.bank("bank-a", db_a, "", listen=bank_a.listen)  # type: ignore[attr-defined]

        async def committed() -> bool:
            return await tx_state(cluster.store, tx.gid) == "COMMITTED"

        await eventually(committed, timeout=60, what="committed once the real bank-a is back")
    assert (await accounts(db_a), await accounts(db_b)) == ({"A": (70, 0, 0)}, {"B": (30, 0, 0)})
