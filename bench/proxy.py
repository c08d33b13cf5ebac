"""`txc bench proxy`: sysbench through dbproxy (2 shards on the local MariaDB) against MariaDB directly.

Both are measured in the same run on the same server: direct on one unsharded table, through the proxy on two
shards (two physical databases). The proxy runs with a coordinator (on a fresh database of the local
PostgreSQL), so transactions that write on both shards commit atomically by XA. Workloads: sysbench
point_select and read_write, and `transfer` (``transfer.lua``: a cross-shard two-row transfer, through the
proxy as one XA transaction vs directly as one local transaction per shard, not atomic). Reports qps/tps,
p50/p95/p99 latency, proxy/direct ratios, proxy and coordinator CPU per transaction, and the proxy's RSS with
64 client connections open.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import pymysql
import yaml

from bench.harness import CpuMeter, cpu_halves, pin, pinned_command
from sdk.processes import ChildProcess, free_address, free_port, script_command, txc_command

MARIADB_HOST = os.environ.get("TXC_BENCH_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("TXC_BENCH_MARIADB_PORT", "3306"))
PG_URL = os.environ.get("TXC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGETS = {"oltp_point_select": 0.3, "oltp_read_write": 0.2, "transfer": 0.4}
TRANSFER_LUA = Path(__file__).with_name("transfer.lua")
RSS_TARGET_MB = 300


@dataclass
class Measurement:
    """Median over the rounds of one workload against one target."""

    workload: str
    target: str  # "direct" or "proxy"
    qps: float
    p95_ms: float
    errors: int  # sysbench "ignored errors" summed over the rounds
    rounds_qps: list[float]
    tps: float = 0.0  # transactions (sysbench events) per second
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_txn: dict[str, float] | None = None  # proxy / coordinator CPU per transaction (proxy runs only)


@dataclass
class Report:
    threads: int
    rows: int
    seconds: int
    rounds: int
    measurements: list[Measurement]
    ratios: dict[str, float]
    targets: dict[str, float]
    proxy_rss_mb_64_connections: float
    proxy_rss_target_mb: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _admin() -> pymysql.connections.Connection:
    return pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)


def _sysbench_command(
    port: int, user: str, password: str, db: str, workload: str, command: str, *extra: str
) -> list[str]:
    return [
        "sysbench",
        "--db-driver=mysql",
        f"--mysql-host={MARIADB_HOST if port == MARIADB_PORT else '127.0.0.1'}",
        f"--mysql-port={port}",
        f"--mysql-user={user}",
        f"--mysql-password={password}",
        f"--mysql-db={db}",
        "--mysql-ssl=off",
        "--tables=1",
        *extra,
        workload,
        command,
    ]


def _sysbench(port: int, user: str, password: str, db: str, workload: str, command: str, *extra: str) -> str:
    args = _sysbench_command(port, user, password, db, workload, command, *extra)
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


@dataclass
class Sample:
    qps: float
    p95: float
    errors: int
    tps: float
    p50: float
    p99: float
    cpu: dict[str, float]  # CPU seconds per process group during the run


def _percentile(histogram: list[tuple[float, int]], q: float) -> float:
    total = sum(n for _, n in histogram)
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= q * total:
            return value
    return histogram[-1][0] if histogram else 0.0


def _parse(report: str) -> Sample:
    qps = re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec", report)
    tps = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", report)
    p95 = re.search(r"95th percentile:\s+([\d.]+)", report)
    errors = re.search(r"ignored errors:\s+(\d+)", report)
    if qps is None or p95 is None or tps is None:
        raise RuntimeError(f"cannot read sysbench report:\n{report}")
    histogram = [(float(v), int(n)) for v, n in re.findall(r"^\s+([\d.]+) \|\**\s+(\d+)$", report, re.M)]
    return Sample(
        float(qps.group(1)),
        float(p95.group(1)),
        int(errors.group(1)) if errors else 0,
        float(tps.group(1)),
        _percentile(histogram, 0.5),
        _percentile(histogram, 0.99),
        {},
    )


def _store_cpu(pg_database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends serving ``pg_database`` (``coordinator_pg``: the coordinator
    store's share of the server; a backend that exits between two readings is not counted, so it is a lower
    bound)."""
    total = 0.0
    for backend in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            title = " ".join(backend.info["cmdline"] or ())
            if title.startswith("postgres:") and f" {pg_database} " in f"{title} ":
                times = backend.cpu_times()
                total += times.user + times.system
    return total


def _start_coordinator(workdir: Path, store: str) -> tuple[ChildProcess, str]:
    from txcoord.store.migrations import upgrade

    upgrade(store)
    address = free_address()
    proc = ChildProcess(txc_command("coordinator", "--listen", address, "--store", store), workdir / "coordinator.log")
    proc.wait_serving(address)
    return proc, address


def _pg(statement: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _seed_transfer(shards: list[str], rows: int) -> None:
    with _admin() as admin, admin.cursor() as cur:
        for i, db in enumerate(shards):
            cur.execute(f"CREATE TABLE `{db}`.acct_{i} (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB")
            for start in range(0, rows, 1000):
                values = ",".join(f"({2 * k + i}, 1000)" for k in range(start, min(rows, start + 1000)))
                cur.execute(f"INSERT INTO `{db}`.acct_{i} VALUES {values}")


def _rss_with_connections(pid: int, port: int, n: int) -> float:
    conns = []
    try:
        for _ in range(n):
            c = pymysql.connect(host="127.0.0.1", port=port, user="bench", password="bench", database="app")
            with c.cursor() as cur:
                cur.execute("SELECT c FROM sbtest1 WHERE id = 1")
                cur.fetchall()
                cur.execute("SELECT COUNT(*) FROM sbtest1")
                cur.fetchall()
            conns.append(c)
        time.sleep(0.2)
        return float(psutil.Process(pid).memory_info().rss) / 1e6
    finally:
        for c in conns:
            c.close()


def proxy_config(
    port: int, shard0: str, shard1: str, coordinator_address: str, service: str, decision_db: str
) -> dict[str, Any]:
    """The bench proxy's config: ``sbtest1`` and ``acct`` sharded over two databases, atomic commits by XA."""
    return {
        "listen": f"127.0.0.1:{port}",
        "users": {"bench": "bench"},
        "backends": {
            "ds0": f"mysql://root:@{MARIADB_HOST}:{MARIADB_PORT}/{shard0}",
            "ds1": f"mysql://root:@{MARIADB_HOST}:{MARIADB_PORT}/{shard1}",
        },
        "databases": {
            "app": {
                "default_backend": "ds0",
                "sharded_tables": {
                    "sbtest1": {
                        "column": "id",
                        "algorithm": "mod",
                        "auto_increment": True,
                        "nodes": ["ds0.sbtest1_0", "ds1.sbtest1_1"],
                    },
                    "acct": {"column": "id", "algorithm": "mod", "nodes": ["ds0.acct_0", "ds1.acct_1"]},
                },
            }
        },
        # read_write transactions lock rows on both shards; two of them locking in opposite order deadlock
        # across backends, which only a lock wait timeout ends (50 s by default would stall the run)
        "pool": {"lock_wait_timeout": 2},
        "transactions": {
            "coordinator": coordinator_address,
            "service": service,
            "decision_schema": decision_db,  # the proxy's decision rows, dropped with the run's other databases
        },
    }


def run(
    seconds: int = 5,
    threads: int = 8,
    rounds: int = 3,
    rows: int = 10_000,
    progress: Callable[[str], None] = lambda _: None,
    proxy_settings: dict[str, Any] | None = None,  # merged into the proxies' config (e.g. metrics)
    proxy_env: dict[str, str] | None = None,  # added to the proxies' environment (e.g. OTEL_*)
) -> Report:
    suffix = uuid.uuid4().hex[:8]
    direct_db, shard0, shard1, decision_db = (f"txc_bench_{suffix}_{n}" for n in ("direct", "s0", "s1", "xa"))
    admin = _admin()
    with admin.cursor() as cur:
        for name in (direct_db, shard0, shard1):
            cur.execute(f"CREATE DATABASE `{name}`")
    _seed_transfer([shard0, shard1], rows)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="txc_bench_proxy_"))
    store_db = f"txc_bench_{suffix}_coord"
    _pg(f'CREATE DATABASE "{store_db}"')
    progress("starting a coordinator")
    coordinator, coordinator_address = _start_coordinator(workdir, PG_URL.rsplit("/", 1)[0] + f"/{store_db}")
    config = proxy_config(port, shard0, shard1, coordinator_address, f"bench-proxy-{suffix}", decision_db)
    config.update(proxy_settings or {})
    (workdir / "proxy.yaml").write_text(yaml.safe_dump(config))
    # the same proxy without a coordinator: what the transfer costs through the proxy before atomicity
    best_effort_port = free_port()
    best_effort = {**config, "listen": f"127.0.0.1:{best_effort_port}", "transactions": {"mode": "best_effort"}}
    (workdir / "proxy-best-effort.yaml").write_text(yaml.safe_dump(best_effort))
    dbproxy = script_command("dbproxy", "dbproxy.main")
    proc = ChildProcess([*dbproxy, "--config", str(workdir / "proxy.yaml")], workdir / "dbproxy.log", proxy_env)
    proc_best_effort = ChildProcess(
        [*dbproxy, "--config", str(workdir / "proxy-best-effort.yaml")], workdir / "dbproxy-best-effort.log", proxy_env
    )
    measurements: list[Measurement] = []
    round_ratios: dict[str, list[float]] = {}
    try:
        proc.wait_listening(port)
        proc_best_effort.wait_listening(best_effort_port)
        size = f"--table-size={rows}"
        progress("preparing 10,000 rows directly and through the proxy")
        _sysbench(MARIADB_PORT, "root", "", direct_db, "oltp_read_write", "prepare", size)
        _sysbench(port, "bench", "bench", "app", "oltp_read_write", "prepare", size)
        run_args = (size, f"--threads={threads}", f"--time={seconds}", "--percentile=95", "--report-interval=0")
        targets = {
            "direct": (MARIADB_PORT, "root", "", direct_db),
            "proxy": (port, "bench", "bench", "app"),
            "proxy_best_effort": (best_effort_port, "bench", "bench", "app"),
        }
        for workload in TARGETS:
            order = ["direct", "proxy"] + (["proxy_best_effort"] if workload == "transfer" else [])
            samples: dict[str, list[Sample]] = {target: [] for target in order}
            for r in range(rounds):
                # direct and proxy alternate (and swap order each round): the machine's load drifts, and a ratio
                # of two runs far apart in time measures the drift as much as the proxy
                for target in order if r % 2 == 0 else order[::-1]:
                    proxy_pid = (proc_best_effort if target == "proxy_best_effort" else proc).pid
                    # the processes themselves: the proxy's and the coordinator's CPU, not their children's
                    meter = CpuMeter(
                        {"proxy": [proxy_pid], "coordinator": [coordinator.pid]},
                        without_children=("proxy", "coordinator"),
                    )
                    progress(f"{workload} {target}, round {r + 1}/{rounds}: {threads} threads for {seconds}s")
                    if workload == "transfer":
                        at, user, password, db = targets[target]
                        if target == "direct":
                            db = shard0
                        extra = (f"--rows={rows}", f"--second_db={shard1 if target == 'direct' else ''}")
                        args: tuple[Any, ...] = (at, user, password, db, str(TRANSFER_LUA), "run", *run_args, *extra)
                    else:
                        args = (*targets[target], workload, "run", *run_args)
                    before, store_before = meter.read(), _store_cpu(store_db)
                    sample = _parse(_sysbench(*args, "--histogram=on"))
                    sample.cpu = {k: v - before[k] for k, v in meter.read().items()}
                    sample.cpu["coordinator_pg"] = _store_cpu(store_db) - store_before
                    samples[target].append(sample)
            for target, runs in samples.items():
                txns = sum(s.tps for s in runs) * seconds
                cpu = (
                    {
                        k: round(sum(s.cpu[k] for s in runs) * 1000 / txns, 3)
                        for k in ("proxy", "coordinator", "coordinator_pg")
                    }
                    if target != "direct" and txns
                    else None
                )
                measurements.append(
                    Measurement(
                        workload,
                        target,
                        statistics.median(s.qps for s in runs),
                        statistics.median(s.p95 for s in runs),
                        sum(s.errors for s in runs),
                        [s.qps for s in runs],
                        statistics.median(s.tps for s in runs),
                        statistics.median(s.p50 for s in runs),
                        statistics.median(s.p99 for s in runs),
                        cpu,
                    )
                )
            round_ratios[workload] = [
                p.tps / d.tps for d, p in zip(samples["direct"], samples["proxy"], strict=True) if d.tps
            ]
            if workload == "transfer":
                round_ratios["transfer_best_effort"] = [
                    b.tps / d.tps for d, b in zip(samples["direct"], samples["proxy_best_effort"], strict=True) if d.tps
                ]
                round_ratios["transfer_xa_vs_best_effort"] = [
                    p.tps / b.tps for b, p in zip(samples["proxy_best_effort"], samples["proxy"], strict=True) if b.tps
                ]
        progress("proxy RSS with 64 client connections")
        rss = _rss_with_connections(proc.pid, port, 64)
    finally:
        for child in (proc, proc_best_effort, coordinator):
            child.stop()
        _pg(f'DROP DATABASE IF EXISTS "{store_db}" WITH (FORCE)')
        with admin.cursor() as cur:
            for name in (direct_db, shard0, shard1, decision_db):
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    ratios = {w: statistics.median(r) for w, r in round_ratios.items() if r}  # median of same-round ratios
    return Report(threads, rows, seconds, rounds, measurements, ratios, dict(TARGETS), rss, RSS_TARGET_MB)


def render(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"dbproxy (atomic XA, decided in a backend) vs MariaDB direct — sysbench, {report.threads} threads, "
        f"{report.rows} rows, {report.rounds} alternating rounds of {report.seconds}s (medians; ratio = median of "
        "same-round tps ratios; transfer direct = one local transaction per shard, not atomic)"
    )
    columns = (
        "workload",
        "direct tps",
        "proxy tps",
        "ratio",
        "target",
        "p50 ms d/p",
        "p99 ms d/p",
        "proxy/coord/its PG CPU ms/txn",
        "errors d/p",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "workload" else "right", no_wrap=True)
    by = {(m.workload, m.target): m for m in report.measurements}
    for workload, target in report.targets.items():
        d, p = by[(workload, "direct")], by[(workload, "proxy")]
        ratio = report.ratios.get(workload, 0.0)
        mark = "[green]" if ratio >= target else "[red]"
        cpu = p.cpu_ms_per_txn or {}
        table.add_row(
            workload,
            f"{d.tps:,.0f}",
            f"{p.tps:,.0f}",
            f"{mark}{ratio:.2f}x",
            f"≥ {target:.2f}x",
            f"{d.p50_ms:.2f}/{p.p50_ms:.2f}",
            f"{d.p99_ms:.2f}/{p.p99_ms:.2f}",
            f"{cpu.get('proxy', 0):.2f}/{cpu.get('coordinator', 0):.2f}/{cpu.get('coordinator_pg', 0):.2f}",
            f"{d.errors}/{p.errors}",
        )
    console = Console(width=max(110, Console().width))
    console.print(table)
    b = by.get(("transfer", "proxy_best_effort"))
    if b is not None:
        cpu = b.cpu_ms_per_txn or {}
        console.print(
            f"transfer through the proxy without a coordinator (best_effort, not atomic): {b.tps:,.0f} tps, "
            f"p50/p99 {b.p50_ms:.2f}/{b.p99_ms:.2f} ms, proxy CPU {cpu.get('proxy', 0):.2f} ms/txn; "
            f"{report.ratios.get('transfer_best_effort', 0):.2f}x of direct; XA is "
            f"{report.ratios.get('transfer_xa_vs_best_effort', 0):.2f}x of it"
        )
    rss_mark = "[green]" if report.proxy_rss_mb_64_connections <= report.proxy_rss_target_mb else "[red]"
    console.print(
        f"proxy RSS with 64 client connections: {rss_mark}{report.proxy_rss_mb_64_connections:.0f} MB"
        f"[/] (target ≤ {report.proxy_rss_target_mb} MB)"
    )


# the variants' proxies hash strings alike: a random seed per process lays out dicts differently, enough to move
# one process's CPU per statement by a few percent against another's with the same code
SAME_HASHES = {"PYTHONHASHSEED": "0"}
VARIANT_WORKLOADS = ("oltp_point_select", "oltp_read_write", "transfer", "transfer_best_effort")


def run_variants(
    variants: dict[str, tuple[dict[str, Any], dict[str, str]]],
    seconds: int = 5,
    threads: int = 8,
    rounds: int = 12,
    rows: int = 10_000,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The same workloads through proxies that differ only by ``variants`` (name -> settings merged into the
    config, environment added; the first is the reference), all serving the same shards. Each other variant is
    measured side by side with the reference: two sysbench runs of ``threads / 2`` threads each, started
    together, one through each proxy (each proxy and its sysbench on opposite halves of the CPUs, the halves
    swapped every other round: ``_side_by_side``). Both see the same moment of the machine, so a burst of load elsewhere
    slows both alike and their ratio keeps only what the variant costs (this machine's throughput moves by up
    to 30 % from one run to the next). Per workload, variant and round: tps, p50/p99 and the proxy's CPU per
    transaction, of the variant and of the reference beside it (``transfer_best_effort``: the transfer through
    proxies of the same variants without a coordinator)."""
    names = list(variants)
    reference, others = names[0], names[1:]
    half = max(1, threads // 2)
    with _variant_proxies(variants, rows, progress) as proxies:
        size = f"--table-size={rows}"
        run_args = (size, f"--threads={half}", f"--time={seconds}", "--percentile=95", "--report-interval=0")
        results: dict[str, dict[str, list[dict[str, Any]]]] = {w: {v: [] for v in others} for w in VARIANT_WORKLOADS}
        for workload in VARIANT_WORKLOADS:
            kind = "best_effort" if workload == "transfer_best_effort" else "xa"
            for r in range(rounds):
                for variant in others:
                    progress(
                        f"{workload}, round {r + 1}/{rounds}: {variant} beside {reference} "
                        f"({half} + {half} threads for {seconds}s)"
                    )
                    pair = {name: proxies[name][kind] for name in (reference, variant)}
                    samples = _side_by_side(pair, workload, run_args, rows, seconds, swap=r % 2 == 1)
                    results[workload][variant].append({**samples[variant], "reference": samples[reference]})
        return {"rounds": rounds, "seconds": seconds, "threads": threads, "reference": reference, "workloads": results}


_runs = itertools.count(1)


def _side_by_side(
    pair: dict[str, tuple[ChildProcess, int]],
    workload: str,
    run_args: tuple[str, ...],
    rows: int,
    seconds: int,
    swap: bool = False,
) -> dict[str, dict[str, float]]:
    """One sysbench run through each proxy of ``pair``, started together; each one's tps, p50/p99 and proxy CPU
    per transaction. On two CPUs or more, each proxy has one half of them and its sysbench the other half (both
    swapped when ``swap``): unpinned, the scheduler's placement of the two busy proxies decides more of a run's
    throughput (rounds differing by 15 %) than the variant does (MariaDB is left to run anywhere)."""
    halves = cpu_halves()
    sides: list[tuple[set[int], set[int]] | None] = [None, None]
    if halves is not None:
        first, second = halves[::-1] if swap else halves
        sides = [(first, second), (second, first)]
    for (proc, _port), side in zip(pair.values(), sides, strict=True):
        if side is not None:
            pin(proc.pid, side[0])
    meter = CpuMeter({name: [proc.pid] for name, (proc, _port) in pair.items()}, without_children=tuple(pair))
    before = meter.read()
    running = {}
    for (name, (_proc, port)), side in zip(pair.items(), sides, strict=True):
        args = _workload_args(workload, (*run_args, "--histogram=on"), rows)
        command = pinned_command(_sysbench_command(port, "bench", "bench", "app", *args), side and side[1])
        proxy = pair[name][0]  # its log goes beside the proxy's, a file of its own per run
        running[name] = ChildProcess(command, proxy.log_path.with_name(f"sysbench-{proxy.name}-{next(_runs)}.log"))
    reports = {name: proc.finish(timeout=seconds + 120) for name, proc in running.items()}
    used = meter.read()
    out: dict[str, dict[str, float]] = {}
    for name, report in reports.items():
        sample = _parse(report)
        txns = sample.tps * seconds
        out[name] = {
            "tps": sample.tps,
            "p50_ms": sample.p50,
            "p99_ms": sample.p99,
            "errors": sample.errors,
            "proxy_cpu_ms": round((used[name] - before[name]) * 1000 / txns, 4) if txns else 0.0,
        }
    return out


def _workload_args(workload: str, run_args: tuple[str, ...], rows: int) -> tuple[str, ...]:
    if workload.startswith("transfer"):
        return (str(TRANSFER_LUA), "run", *run_args, f"--rows={rows}", "--second_db=")
    return (workload, "run", *run_args)


@contextlib.contextmanager
def _variant_proxies(
    variants: dict[str, tuple[dict[str, Any], dict[str, str]]], rows: int, progress: Callable[[str], None]
) -> Iterator[dict[str, dict[str, tuple[ChildProcess, int]]]]:
    """Two shards seeded with ``rows`` rows (sysbench's table and the transfer's accounts), a coordinator, and per
    variant two proxies on them: "xa" (with the coordinator) and "best_effort" (without)."""
    suffix = uuid.uuid4().hex[:8]
    shard0, shard1 = f"txc_bench_{suffix}_s0", f"txc_bench_{suffix}_s1"
    decision_dbs = [f"txc_bench_{suffix}_xa{i}" for i in range(len(variants) + 1)]  # the last: the loader's
    admin = _admin()
    with admin.cursor() as cur:
        for name in (shard0, shard1):
            cur.execute(f"CREATE DATABASE `{name}`")
    _seed_transfer([shard0, shard1], rows)
    workdir = Path(tempfile.mkdtemp(prefix="txc_bench_proxy_variants_"))
    store_db = f"txc_bench_{suffix}_coord"
    _pg(f'CREATE DATABASE "{store_db}"')
    children: list[ChildProcess] = []
    try:
        progress("starting a coordinator")
        coordinator, coordinator_address = _start_coordinator(workdir, PG_URL.rsplit("/", 1)[0] + f"/{store_db}")
        children.append(coordinator)
        # the rows go in through a proxy of their own: one that served the load would differ from the others
        port = free_port()
        loader_config = proxy_config(
            port, shard0, shard1, coordinator_address, f"bench-proxy-{suffix}-load", decision_dbs[-1]
        )
        (workdir / "proxy-load.yaml").write_text(yaml.safe_dump(loader_config))
        loader = ChildProcess(
            [*script_command("dbproxy", "dbproxy.main"), "--config", str(workdir / "proxy-load.yaml")],
            workdir / "dbproxy-load.log",
        )
        children.append(loader)
        loader.wait_listening(port)
        progress(f"preparing {rows:,} rows through the proxy")
        _sysbench(port, "bench", "bench", "app", "oltp_read_write", "prepare", f"--table-size={rows}")
        loader.stop()
        proxies: dict[str, dict[str, tuple[ChildProcess, int]]] = {}  # variant -> "xa" / "best_effort" -> proxy
        for i, (variant, (settings, env)) in enumerate(variants.items()):
            progress(f"starting the {variant} proxies")
            proxies[variant] = {}
            for kind in ("xa", "best_effort"):
                port = free_port()
                config = proxy_config(
                    port, shard0, shard1, coordinator_address, f"bench-proxy-{suffix}-{i}", decision_dbs[i]
                )
                if kind == "best_effort":
                    config["transactions"] = {"mode": "best_effort"}
                config.update(settings)
                path = workdir / f"proxy-{i}-{kind}.yaml"
                path.write_text(yaml.safe_dump(config))
                proc = ChildProcess(
                    [*script_command("dbproxy", "dbproxy.main"), "--config", str(path)],
                    workdir / f"dbproxy-{i}-{kind}.log",
                    {**SAME_HASHES, **env},
                )
                children.append(proc)
                proc.wait_listening(port)
                proxies[variant][kind] = (proc, port)
        yield proxies
    finally:
        for child in children:
            child.stop()
        _pg(f'DROP DATABASE IF EXISTS "{store_db}" WITH (FORCE)')
        with admin.cursor() as cur:
            for name in (shard0, shard1, *decision_dbs):
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
