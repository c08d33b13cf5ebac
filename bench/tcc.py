"""`txc bench tcc`: two-branch TCC transfers through a coordinator vs the same calls made directly.

32 concurrent clients (coroutines of this process). Each transaction debits an account on bank-a and
credits one on bank-b (two participant processes, each on its own PostgreSQL database, every try and
confirm one SQL update inside the barrier). The baseline, in the same run, makes the same tries and
confirms directly, without a coordinator."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from typing import Any

from bench.harness import BenchSettings, CpuMeter, PeakRss, Run, drive, process_groups
from bench.tcc_http import HTTP_SERVICES, http_endpoints, http_summary, report_http
from bench.tcc_stack import ACCOUNTS, security, tcc_stack
from demo import bank
from demo.bank import credit, debit
from sdk.branch_mac import BranchSigner
from sdk.coordinator_client import CoordinatorClient, new_gid
from sdk.invocation import ActionInvoker
from sdk.processes import ChildProcess, free_address
from sdk.rpc import ChannelPool, ClientSecurity
from sdk.tcc_wire import envelope


def _accounts(rng: random.Random) -> tuple[str, str]:
    return f"a{rng.randrange(ACCOUNTS)}", f"b{rng.randrange(ACCOUNTS)}"


async def tcc_transfers(
    settings: BenchSettings,
    client: CoordinatorClient,
    calls: dict[str, int],
    meter: CpuMeter | None,
    services: tuple[str, str] = ("bank-a", "bank-b"),
) -> Run:
    async def transfer(rng: random.Random) -> None:
        source, target = _accounts(rng)
        async with client.transaction(timeout=30) as tx:
            await tx.call(debit.on(services[0]), account=source, amount=1)
            await tx.call(credit.on(services[1]), account=target, amount=1)
        calls["session"] += 3  # register, register, commit
        calls["try"] += 2
        calls["txn"] += 1

    await transfer(random.Random(0))  # warm the channels and the registry watch before measuring
    return await drive(settings, transfer, meter)


async def _direct_run(
    settings: BenchSettings,
    pool: ChannelPool | ActionInvoker,
    bank_addresses: dict[str, str],
    meter: CpuMeter | None,
    signer: BranchSigner | None = None,
    services: tuple[str, str] = ("bank-a", "bank-b"),
) -> Run:
    a, b = bank_addresses[services[0]], bank_addresses[services[1]]
    sa, sb = services

    def body(gid: str, branch: str, service: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
        # Signed like the coordinator would, so the banks do the same verification work in both runs.
        return envelope(gid, branch, args, signer.sign(gid, branch, service, action, args) if signer else "")

    async def transfer(rng: random.Random) -> None:
        source, target = _accounts(rng)
        gid = new_gid()
        debit_args, credit_args = {"account": source, "amount": 1}, {"account": target, "amount": 1}
        await pool.invoke_json(a, sa, "debit", body(gid, "1", sa, "debit", debit_args))
        await pool.invoke_json(b, sb, "credit", body(gid, "2", sb, "credit", credit_args))
        await asyncio.gather(
            pool.invoke_json(a, sa, "debit.confirm", body(gid, "1", sa, "debit.confirm", debit_args)),
            pool.invoke_json(b, sb, "credit.confirm", body(gid, "2", sb, "credit.confirm", credit_args)),
        )

    return await drive(settings, transfer, meter)


async def _phase2_backlog(address: str, security: ClientSecurity) -> int:
    async with CoordinatorClient(address, session=False, security=security) as client:
        counts = (await client.list(limit=1)).counts
    return int(counts.get("COMMITTING", 0) + counts.get("BEGIN", 0) + counts.get("ROLLING_BACK", 0))


async def run_bench(settings: BenchSettings, progress: Any = print) -> dict[str, Any]:
    secure = security(settings)
    signer = BranchSigner.from_env()
    client_security = secure.client() if secure else ClientSecurity()
    reader_security = secure.reader() if secure else ClientSecurity()
    async with tcc_stack(settings, secure=secure) as stack:
        address, coordinator, children = stack.address, stack.coordinator, stack.children
        bank_addresses = dict(stack.bank_addresses)
        if settings.protocol == "http":  # the same banks (same databases) served over HTTP too
            for name in ("bank-a", "bank-b"):
                env = secure.bank_env(name) if secure else None
                db, listen = stack.databases[name], free_address()
                command = bank.command(HTTP_SERVICES[name], db, address, listen, "", "--http", "--pool-size", "10")
                children.append(ChildProcess(command, settings.log_dir / f"{HTTP_SERVICES[name]}.log", env))
            bank_addresses.update(await http_endpoints(address, reader_security, HTTP_SERVICES.values()))
        progress(f"bench: coordinator {address}, banks {bank_addresses}; {settings.clients} clients")
        meter = process_groups(coordinator.pid, {"banks": [child.pid for child in children[1:]]}, settings)
        async with PeakRss(coordinator.pid) as memory:  # rounds and phase-2 drain
            direct, tcc = Run(), Run()
            direct_http, tcc_http = Run(), Run()
            invoker = ActionInvoker(ChannelPool(security=reader_security))
            http_pair = (HTTP_SERVICES["bank-a"], HTTP_SERVICES["bank-b"])
            calls = {"session": 0, "try": 0, "txn": 0}
            pool = ChannelPool(security=reader_security)
            client = CoordinatorClient(address, session=settings.session, security=client_security)
            try:
                for round_no in range(1, settings.rounds + 1):
                    progress(f"bench: round {round_no}/{settings.rounds}: baseline (direct calls), {settings.seconds}s")
                    direct.add(await _direct_run(settings, pool, bank_addresses, meter, signer))
                    progress(f"bench: round {round_no}/{settings.rounds}: through the coordinator, {settings.seconds}s")
                    tcc.add(await tcc_transfers(settings, client, calls, meter))
                    if settings.protocol == "http":
                        progress(f"bench: round {round_no}/{settings.rounds}: HTTP participants, direct and through")
                        direct_http.add(await _direct_run(settings, invoker, bank_addresses, meter, signer, http_pair))
                        tcc_http.add(await tcc_transfers(settings, client, calls, meter, http_pair))
                session = client.session
                stream_writes = session.writes if session is not None else 0
                stream_requests = session.requests if session is not None else 0
            finally:
                await client.close()
                await pool.close()
                await invoker.close()
                await invoker.grpc.close()
            drain_started = time.monotonic()
            drain_until = drain_started + 60
            while (backlog := await _phase2_backlog(address, reader_security)) > 0 and time.monotonic() < drain_until:
                await asyncio.sleep(0.1)
            drain = time.monotonic() - drain_started
        async with CoordinatorClient(address, session=False, security=reader_security) as admin:
            through_coordinator = int((await admin.list(limit=1)).counts.get("COMMITTED", 0))

    tcc_summary, direct_summary = tcc.summary(), direct.summary()
    http = http_summary(tcc_summary, direct_summary, tcc_http, direct_http) if settings.protocol == "http" else None
    n = max(1, calls["txn"])  # every transaction the clients ran, warm-up included, like the phase-2 count
    stats = re.findall(r"phase2_calls=(\d+) phase2_branches=(\d+)", coordinator.log_path.read_text())
    phase2_calls = int(stats[-1][0]) if stats else 0  # the log is appended to: this run's line is the last
    per_txn_phase2 = phase2_calls / max(1, through_coordinator)
    return {
        "clients": settings.clients,
        "seconds": settings.seconds,
        "rounds": settings.rounds,
        "session_stream": settings.session,
        "branch_signatures": settings.signed,
        "secure": settings.secure,  # TLS + per-identity credentials (the authorization interceptor on)
        "tcc": tcc_summary,
        "baseline": direct_summary,
        "ratio": round(tcc_summary["txn_per_s"] / direct_summary["txn_per_s"], 2) if direct_summary["txn_per_s"] else 0,
        "rpcs_per_txn": {
            "session_requests": round(calls["session"] / n, 2),  # register, register, commit on one stream
            # stream messages from this client: requests ready together share one message
            "session_writes": round(stream_writes / max(1, stream_requests) * calls["session"] / n, 2),
            "try_calls": round(calls["try"] / n, 2),
            "phase2_calls": round(per_txn_phase2, 3),  # batched: one call carries many confirms
            "total_calls": round(calls["session"] / n + calls["try"] / n + per_txn_phase2, 2),
        },
        "baseline_rpcs_per_txn": 4,
        "coordinator_peak_rss_mb": memory.mb,
        "phase2_drain_s": round(drain, 2),
        "phase2_backlog_after_drain": backlog,
        "cpu_count": os.cpu_count(),
        "logs": str(settings.log_dir),
        **({"http": http} if http else {}),
    }


def report(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"txc bench tcc: {summary['clients']} clients, {summary['rounds']} rounds of {summary['seconds']}s, "
        "median txn/s"
    )
    for column in ("run", "txn/s", "p50 ms", "p99 ms", "errors", "RPCs/txn"):
        table.add_column(column, justify="right" if column != "run" else "left")
    rows = [
        ("through coordinator", "tcc", summary["rpcs_per_txn"]["total_calls"]),
        ("baseline (direct)", "baseline", summary["baseline_rpcs_per_txn"]),
    ]
    for name, key, rpcs in rows:
        r = summary[key]
        table.add_row(name, str(r["txn_per_s"]), str(r["p50_ms"]), str(r["p99_ms"]), str(r["errors"]), str(rpcs))
    console = Console()
    console.print(table)
    for run_name in ("tcc", "baseline"):
        cpu = summary[run_name]["cpu_ms_per_txn"]
        console.print(
            f"CPU ms per txn, {run_name}: "
            + ", ".join(f"{k} {v}" for k, v in cpu.items())
            + f" (total {round(sum(cpu.values()), 2)})"
        )
    console.print(
        f"ratio {summary['ratio']}; coordinator peak RSS {summary['coordinator_peak_rss_mb']} MB; "
        f"phase 2 drained {summary['phase2_drain_s']}s after the run (backlog {summary['phase2_backlog_after_drain']})"
    )
    if "http" in summary:
        report_http(console, summary["http"])
