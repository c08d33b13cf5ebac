"""The proxy as a participant of the coordinator: the one module of dbproxy that uses ``sdk``.

It registers the proxy in the registry under ``transactions.service`` (with the standard gRPC health service),
serves phase 2 of the proxy's XA branches (``xa.confirm`` / ``xa.cancel`` and the batched ``txc.phase2`` the
coordinator prefers: commit or roll back by xid, from any instance of the service), talks to the coordinator
for the committer (register, commit, rollback over the sdk's session stream) and answers recovery's question
"what did the coordinator decide for this gid". Everything else in dbproxy is free of gRPC.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from dbproxy.config import ProxyConfig
from dbproxy.errors import OutcomeUnknown, ProxyError
from dbproxy.executor.pool import Pools
from dbproxy.xa import Xid
from dbproxy.xa_commit import CoordinatorUnreachable, DecisionRefused
from dbproxy.xa_recovery import XaDecision, XaRecovery, finish_branch
from sdk import CoordinatorClient, RpcError, TxcError
from sdk.branch_mac import BranchSigner, BranchVerifier, warn_unverified
from sdk.observability import enable_metrics
from sdk.service_server import ServiceServer

log = logging.getLogger("dbproxy.coordination")

XA_ACTION = "xa"  # the branches' action: phase 2 arrives as xa.confirm / xa.cancel (or batched)
PHASE2_BATCH_ACTION = "txc.phase2"
_COMMITTED = {"COMMITTING", "COMMITTED", "COMMIT_FAILED"}
_ROLLED_BACK = {"ROLLING_BACK", "ROLLED_BACK", "ROLLBACK_FAILED"}
_REFUSED = {grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND}


class Coordination:
    """Implements ``dbproxy.xa_commit.GlobalTransactions``; ``start`` once the pools exist."""

    def __init__(self, config: ProxyConfig) -> None:
        settings = config.transactions
        assert settings.coordinator is not None
        if config.metrics is not None:  # the gRPC metrics interceptors of the client and server made below
            enable_metrics()
        self.settings = settings
        self.service = settings.service
        self.backends = list(config.backends)
        coordinators = [a.strip() for a in settings.coordinator.split(",")]
        registry = [a.strip() for a in (settings.registry or settings.coordinator).split(",")]
        self.client = CoordinatorClient(coordinators[0], registry=registry, timeout=10.0)
        self.registry = registry
        self.host: ServiceServer | None = None
        self.recovery: XaRecovery | None = None
        self.pools: Pools | None = None
        self.phase2_calls = 0
        self._reports: set[asyncio.Task[None]] = set()
        # phase 2 is served only for branches the coordinator signed (sdk.branch_mac), as any participant does:
        # without it anyone who can connect could XA COMMIT a branch the coordinator decided to roll back
        signer = BranchSigner.from_env()
        self.verifier = BranchVerifier(self.service, signer) if signer is not None else None
        if self.verifier is None:
            warn_unverified(self.service)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, pools: Pools) -> None:
        self.pools = pools
        host = ServiceServer(
            self.settings.listen,
            self.registry,
            ttl=self.settings.registry_ttl,
            name=self.service,
            advertise=self.settings.advertise,
        )
        host.add_json_service(self.service, self.handlers())
        await host.start()
        self.host = host
        self.recovery = XaRecovery(pools, self.backends, self.service, self.decision, self.settings.recovery_interval)
        self.recovery.start()  # its first scan runs now: branches a previous instance left prepared
        log.info("registered as service %r at %s (phase 2 of XA branches)", self.service, host.server.address)

    @property
    def address(self) -> str:
        return self.host.server.address if self.host is not None else ""

    async def close(self) -> None:
        if self.recovery is not None:
            await self.recovery.close()
        if self.host is not None:
            await self.host.stop(grace=1.0)
        await self.client.close()

    # -- the committer's side ------------------------------------------------------------------------------

    def new_gid(self) -> str:
        """Unique and sortable by creation time (the same shape as the sdk's gids): the XA gtrid too."""
        return f"{time.time_ns():016x}{os.urandom(6).hex()}"

    async def register(self, gid: str, xids: Sequence[Xid]) -> None:
        async def one(xid: Xid) -> None:
            await self.client.register_branch(
                gid, xid.backend, self.service, XA_ACTION, xid.as_payload(), tx_timeout=self.settings.timeout, kind="XA"
            )

        try:
            await asyncio.gather(*(one(x) for x in xids))
        except RpcError as exc:
            if exc.code in _REFUSED:
                raise DecisionRefused(f"the coordinator refused the transaction ({exc.details})") from exc
            raise CoordinatorUnreachable(f"coordinator unreachable ({exc.code.name}: {exc.details})") from exc

    async def commit(self, gid: str) -> None:
        try:
            state = await self.client.commit(gid, phase2_delay=self.settings.phase2_delay)
        except RpcError as exc:
            if exc.code in _REFUSED:
                raise DecisionRefused(
                    f"COMMIT refused by the coordinator ({exc.details}); the transaction was rolled back"
                ) from exc
            raise OutcomeUnknown(
                f"COMMIT outcome unknown: the coordinator did not answer ({exc.code.name}); it decides and "
                f"finishes the transaction (gid {gid}, see `txc tx show {gid}`)"
            ) from exc
        if state not in _COMMITTED:
            raise DecisionRefused(f"COMMIT refused: the coordinator has the transaction in {state}")

    def finished(self, gid: str) -> None:
        task = asyncio.create_task(self._finished(gid))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _finished(self, gid: str) -> None:
        try:
            await self.client.finish(gid)
        except RpcError as exc:  # the coordinator drives phase 2 after the delay instead: XA COMMIT is idempotent
            log.info("%s: finish not recorded (%s); the coordinator's phase 2 will confirm it", gid, exc.code.name)

    async def rollback(self, gid: str, reason: str) -> None:
        try:
            await self.client.rollback(gid, reason)
        except RpcError as exc:
            raise CoordinatorUnreachable(f"rollback not recorded ({exc.code.name}: {exc.details})") from exc

    # -- recovery's question ---------------------------------------------------------------------------------

    async def decision(self, gid: str) -> XaDecision:
        try:
            detail = await self.client.query(gid)
        except RpcError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return XaDecision.ROLLBACK  # never registered, or forgotten: nothing may commit it
            log.info("recovery: cannot ask the coordinator about %s (%s)", gid, exc.code.name)
            return XaDecision.PENDING
        state = detail.transaction.state
        if state in _COMMITTED:
            return XaDecision.COMMIT
        if state in _ROLLED_BACK:
            return XaDecision.ROLLBACK
        return XaDecision.PENDING

    # -- phase 2 served to the coordinator -----------------------------------------------------------------------

    def handlers(self) -> dict[str, Any]:
        return {
            f"{XA_ACTION}.confirm": self._single(commit=True),
            f"{XA_ACTION}.cancel": self._single(commit=False),
            PHASE2_BATCH_ACTION: self._batch,
        }

    def _xid(self, body: Any, called: str) -> Xid:
        if not isinstance(body, Mapping):
            raise ValueError("body must be an object with gid, branch_id and args")
        refused = self.verifier.check(called, dict(body)) if self.verifier is not None else None
        if refused is not None:
            raise RpcError(grpc.StatusCode.PERMISSION_DENIED, refused)
        xid = Xid.from_payload(body.get("args"))
        if xid.service != self.service or xid.backend not in self.backends or xid.gtrid != body.get("gid"):
            raise ValueError(f"xid {xid} is not a branch of service {self.service!r} on a configured backend")
        return xid

    async def _finish(self, xid: Xid, commit: bool) -> None:
        assert self.pools is not None
        self.phase2_calls += 1
        try:
            await finish_branch(self.pools, xid, commit)
        except ProxyError as exc:  # retried by the coordinator with backoff
            verb = "COMMIT" if commit else "ROLLBACK"
            raise RpcError(grpc.StatusCode.UNAVAILABLE, f"XA {verb} {xid}: {exc.message}") from exc

    def _single(self, commit: bool) -> Any:
        called = f"{XA_ACTION}.{'confirm' if commit else 'cancel'}"

        async def handle(body: Any, _context: grpc.aio.ServicerContext) -> Any:
            await self._finish(self._xid(body, called), commit)
            return {"result": None, "barrier": "applied"}

        return handle

    async def _batch(self, body: Any, _context: grpc.aio.ServicerContext) -> Any:
        items = body.get("items") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise ValueError(f"{PHASE2_BATCH_ACTION}: body must be {{'items': [...]}}")

        async def one(item: Any) -> dict[str, Any]:
            try:
                if not isinstance(item, Mapping) or item.get("action") != XA_ACTION:
                    return {"ok": False, "code": "UNIMPLEMENTED", "error": f"{self.service} serves only XA branches"}
                if item.get("op") not in ("confirm", "cancel"):
                    raise ValueError("op must be confirm or cancel")
                await self._finish(self._xid(item, f"{XA_ACTION}.{item['op']}"), item["op"] == "confirm")
                return {"ok": True, "barrier": "applied"}
            except RpcError as exc:
                return {"ok": False, "code": exc.code.name, "error": exc.details}
            except (ValueError, TxcError) as exc:
                return {"ok": False, "code": "INVALID_ARGUMENT", "error": str(exc)}

        return {"results": list(await asyncio.gather(*(one(item) for item in items)))}
