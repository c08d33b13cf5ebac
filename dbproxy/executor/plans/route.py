"""A statement routed to the nodes its shard condition picks: relayed as-is when one node answers, otherwise
run on each and merged (rows) or summed (counts); a write on several nodes is all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from dbproxy.backends.connection import BackendConnection, Result
from dbproxy.errors import NotSupported, ProxyError
from dbproxy.executor.plans.base import Routed
from dbproxy.executor.runner import Runner
from dbproxy.merge import MergeSpec
from dbproxy.protocol.packets import eof_payload, frame
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.rules import ShardRule
from dbproxy.router.targets import Cond


@dataclass(frozen=True, slots=True, kw_only=True)
class Route(Routed):
    rule: ShardRule | None = None
    cond: Cond | None = None
    fixed: bool = True  # run on every target (DDL, broadcast writes, unsharded single target)
    read_one: bool = False  # broadcast read: any one target has the answer
    is_read: bool = False
    merge: MergeSpec | None = None
    merge_error: NotSupported | None = None  # raised only when the statement really spans several nodes
    implicit_commit: ClassVar[bool] = False  # DDL: MySQL commits an open transaction first

    @property
    def changes_rows(self) -> bool:
        return not self.is_read

    def choose(self, params: Sequence[ParamValue]) -> list[int]:
        """Indexes into ``targets`` this execution runs on."""
        if self.fixed or self.rule is None:
            return [0] if self.read_one else list(range(len(self.targets)))
        if self.cond is None:
            return list(range(len(self.targets)))
        nodes = self.cond.nodes(self.rule, params)
        if nodes is None:
            return list(range(len(self.targets)))
        return sorted(nodes)

    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        if len(self.targets) <= 1 or self.read_one or ran_on == 1:
            return "single"
        if ran_on:
            return "broadcast" if self.fixed else "scatter"
        if self.fixed:
            return "broadcast"
        return "single" if len(self.choose(params) or ()) <= 1 else "scatter"

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        nodes = self.choose(params) or [0]
        run.ran_on = len(nodes)  # its route, for the metrics, without choosing again
        begin = not self.implicit_commit  # DDL commits implicitly: it never opens a transaction
        if len(nodes) == 1:
            target = self.targets[nodes[0]]
            if req is None or target.relayable:
                await run.relay(target, params, req, retry_read=self.is_read, begin=begin, bounded=True)
                return
            results = await run.run_text(self.targets, nodes, params, begin=begin, bounded=begin)
            run.reply(results, params, binary=True, merge=self.merge)
            return
        if self.merge_error is not None:
            raise self.merge_error
        if self.merge is not None and self.merge.concatenation and (req is None or self.targets[0].relayable):
            await self._concatenate(run, nodes, params, req)
            return
        if self.is_read or self.implicit_commit:
            results = await run.run_text(self.targets, nodes, params, merge=self.merge, begin=begin, bounded=begin)
        else:
            results = await run.atomically(run.run_text(self.targets, nodes, params, begin=begin, bounded=begin))
        run.reply(self._counted(results), params, binary=req is not None, merge=self.merge)

    def _counted(self, results: list[Result]) -> list[Result]:
        """The results whose counts the client is told."""
        return results

    async def _concatenate(
        self, run: Runner, nodes: list[int], params: Sequence[ParamValue], req: ExecuteRequest | None
    ) -> None:
        """A scatter whose answer is every shard's rows in turn: rows are copied, never decoded, and stream to
        the client node after node (each backend's first statement is sent at once, the next when the one
        before it was read), so a slow reader holds the client buffer, not the result."""
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(self.targets[n].backend, []).append(n)
        conns: dict[str, tuple[BackendConnection, bool]] = {}
        unread: dict[str, int] = {}  # backend -> node whose statement was sent and whose answer is not read yet
        state = run.state

        async def send(backend: str, n: int) -> None:
            conn = conns[backend][0]
            target = self.targets[n]
            if req is None:
                text = target.template.render(params, state.slots)
                command = b"\x03" + text.encode("utf-8", "surrogateescape")
            else:
                stmt_id, nparams = await conn.prepare(target.prepared_sql)
                command = conn.execute_command(stmt_id, nparams, req.null_bitmap, req.types, req.raw_values)
            conn.send(command)
            unread[backend] = n

        names = run.physical_names()
        try:
            for backend in by_backend:
                conns[backend] = await run.conn(backend)
            for backend, idxs in by_backend.items():
                await send(backend, idxs[0])
            seq = 1
            out = run.client.writer
            for n in nodes:
                backend = self.targets[n].backend
                del unread[backend]  # read now: whatever happens, this answer is consumed or its connection closed
                seq = await conns[backend][0].stream_result(out, seq, seq > 1, state.status, names, run.identity)
                if seq < 0:
                    return  # the answer ended with an error
                following = by_backend[backend].index(n) + 1
                if following < len(by_backend[backend]):
                    await send(backend, by_backend[backend][following])
            out.write(frame(eof_payload(state.status), seq))
        finally:
            for backend, (conn, pinned) in conns.items():
                if backend in unread and not conn.broken:
                    try:
                        await conn.discard_result()  # an answer nobody reads must not reach the next user
                    except ProxyError:
                        conn.close()
                run.done(conn, pinned)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ddl(Route):
    """DDL: MySQL commits an open transaction first, and the statement never opens one."""

    sharded_table: str | None = None  # a sharded table it changes: the keys generated for it are forgotten
    implicit_commit: ClassVar[bool] = True

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        await run.commit_open()
        if self.sharded_table is not None:
            run.ctx.keys.forget((run.state.database or "", self.sharded_table))
        await Route.execute(self, run, params, req)


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastWrite(Route):
    """A write to a broadcast table: it runs on every copy, and every copy changed the same rows."""

    def _counted(self, results: list[Result]) -> list[Result]:
        return results[:1]  # one copy's counts
