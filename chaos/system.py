"""A complete system of real processes for one chaos run: the store's PostgreSQL, two coordinators sharing
it, the workload's participant services and their databases (a PostgreSQL and a MariaDB of the harness's own),
with a fault-injecting link in front of every connection between them."""

from __future__ import annotations

import asyncio
import glob
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiomysql
import asyncpg

from chaos.dbproxies import ProxySpec, start_dbproxies
from chaos.errors import ChaosError
from chaos.model import ParticipantSpec
from chaos.netproxy import Link
from chaos.servers import MariaDbServer, PostgresServer
from sdk.processes import ChildProcess, free_port, python_command, txc_command

LEASE = 3.0  # coordinator lease (s): short, so pauses longer than it cause takeovers within a short run
TX_TIMEOUT = 8.0


def faketime_library() -> str | None:
    for pattern in ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"):
        found = glob.glob(pattern)
        if found:
            return found[0]
    return None


@dataclass
class SystemOptions:
    workdir: Path
    participants: list[ParticipantSpec]
    clock_skew: bool = False  # run coordinator 2 under libfaketime with a run-time adjustable offset
    coordinator_env: dict[str, str] = field(default_factory=dict)  # e.g. the broken-build switch (tests)
    dbproxy: ProxySpec | None = None  # dbproxy instances over shards of the harness's MariaDB (bank-xa)


class System:
    def __init__(self, options: SystemOptions) -> None:
        self.options = options
        # PostgreSQL runs as an unprivileged user when we are root: its data must live under a path it can reach
        self.root = Path(tempfile.mkdtemp(prefix="txc-chaos-"))
        self.root.chmod(0o755)
        self.log_dir = options.workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.store = PostgresServer(self.root / "store-pg", log_dir=self.log_dir)
        self.bankdb = PostgresServer(self.root / "bank-pg", log_dir=self.log_dir)
        self.needs_mysql = any(p.db == "mysql" for p in options.participants) or options.dbproxy is not None
        if self.needs_mysql and not MariaDbServer.available():
            raise ChaosError("this workload keeps accounts in MariaDB: install mariadb-server (mariadbd)")
        self.mysql = MariaDbServer(self.root / "mariadb", log_dir=self.log_dir) if self.needs_mysql else None
        self.links: dict[str, Link] = {}
        self.coordinators: list[ChildProcess] = []
        self.participants: list[ChildProcess] = []
        self.dbproxies: list[ChildProcess] = []  # the proxy XA workload adds dbproxy instances here
        self.faketime_file = self.root / "faketime"
        self.skewed: ChildProcess | None = None

    # -- addresses ----------------------------------------------------------------------------------

    @property
    def caller_addresses(self) -> list[str]:
        return [self.links[f"caller->{c.name}"].address for c in self.coordinators]

    def store_url(self, database: str = "txc") -> str:
        return self.store.url(database)

    def bank_pg_url(self, service: str) -> str:
        return self.bankdb.url(_dbname(service))

    # -- lifecycle ----------------------------------------------------------------------------------

    async def link(self, name: str, port: int) -> Link:
        """A fault link named ``name`` in front of ``127.0.0.1:port``: connect to its address instead."""
        link = Link(name, ("127.0.0.1", port))
        await link.start()
        self.links[name] = link
        return link

    async def start(self) -> None:
        servers = [self.store, self.bankdb, *([self.mysql] if self.mysql else [])]
        for server in servers:  # initdb / install-db take about a second each
            await asyncio.to_thread(server.init)
            await asyncio.to_thread(server.start)
        await self._create_databases()
        await self._migrate()
        for i in (1, 2):
            await self._start_coordinator(f"coord-{i}")
        for proc in self.coordinators:
            await proc.serving(timeout=60)
        for spec in self.options.participants:
            await self._start_participant(spec)
        for proc in self.participants:
            await proc.serving(timeout=60)
        if self.options.dbproxy is not None:
            await start_dbproxies(self, self.options.dbproxy, TX_TIMEOUT)

    async def _create_databases(self) -> None:
        conn = await asyncpg.connect(self.store.url())
        try:
            await conn.execute('CREATE DATABASE "txc"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.bankdb.url())
        try:
            for spec in self.options.participants:
                if spec.db == "pg":
                    await conn.execute(f'CREATE DATABASE "{_dbname(spec.service)}"')
        finally:
            await conn.close()
        if self.mysql is not None:
            mconn = await aiomysql.connect(host="127.0.0.1", port=self.mysql.port, user="root")
            try:
                async with mconn.cursor() as cur:
                    await cur.execute("CREATE DATABASE IF NOT EXISTS bank")
            finally:
                mconn.close()

    async def _migrate(self) -> None:
        done = await asyncio.create_subprocess_exec(
            *txc_command("db", "upgrade", "--store", self.store_url()),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await done.communicate()
        if done.returncode != 0:
            raise ChaosError(f"txc db upgrade failed: {out.decode(errors='replace')[-2000:]}")

    async def _start_coordinator(self, name: str) -> None:
        port = free_port()
        address = f"127.0.0.1:{port}"
        store_link = await self.link(f"{name}->store", self.store.port)
        await self.link(f"caller->{name}", port)
        args = txc_command(
            "coordinator", "--listen", address,
            "--store", f"postgresql://postgres@{store_link.address}/txc",
            "--node-id", name, "--lease", str(LEASE), "--scan-interval", "0.5",
            "--timeout", str(TX_TIMEOUT), "--retry-max", "2", "--phase2-timeout", "3",
        )  # fmt: skip
        env = dict(self.options.coordinator_env)
        if self.options.clock_skew and name == "coord-2":
            library = faketime_library()
            if library is None:
                raise ChaosError("clock-skew needs libfaketime: apt-get install faketime")
            self.faketime_file.write_text("+0s\n")
            # only the wall clock is skewed (as NTP trouble would); asyncio's monotonic timers stay sane
            env |= {
                "LD_PRELOAD": library,
                "FAKETIME_TIMESTAMP_FILE": str(self.faketime_file),
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "FAKETIME_CACHE_DURATION": "1",
            }
        proc = ChildProcess(args, self.log_dir / f"{name}.log", env, address=address)
        self.coordinators.append(proc)
        if env.get("LD_PRELOAD"):
            self.skewed = proc

    async def _start_participant(self, spec: ParticipantSpec) -> None:
        port = free_port()
        listen = f"127.0.0.1:{port}"
        front = await self.link(f"to-{spec.service}", port)
        if spec.db == "mysql":
            assert self.mysql is not None
            db_link = await self.link(f"{spec.service}->mysql", self.mysql.port)
            db = db_link.address
        else:
            db_link = await self.link(f"{spec.service}->pg", self.bankdb.port)
            db = f"postgresql://postgres@{db_link.address}/{_dbname(spec.service)}"
        values = {
            "service": spec.service,
            "listen": listen,
            "advertise": front.address,
            "registry": ",".join(self.caller_addresses),
            "db": db,
            "accounts": ",".join(f"{k}={v}" for k, v in spec.accounts.items()),
        }
        template = spec.command or python_command(
            "-m", "chaos.bank.participant", "--service", "{service}", "--kind", spec.db,
            "--db", "{db}", "--registry", "{registry}", "--listen", "{listen}", "--advertise", "{advertise}",
            "--accounts", "{accounts}", "--ttl", "3",
        )  # fmt: skip
        command = [part.format(**values) for part in template]
        proc = ChildProcess(command, self.log_dir / f"{spec.service}.log", address=listen)
        self.participants.append(proc)

    def set_skew(self, seconds: float) -> None:
        self.faketime_file.write_text(f"{seconds:+.0f}s\n")

    async def heal_all(self) -> None:
        """Undo every fault: links clean, skew 0, paused processes resumed, dead ones restarted."""
        for link in self.links.values():
            link.heal()
        if self.skewed is not None:
            self.set_skew(0)
        for server in (self.store, self.bankdb, self.mysql):
            if server is not None and not server.alive():
                await asyncio.to_thread(server.restart)
        for proc in [*self.coordinators, *self.participants, *self.dbproxies]:
            proc.resume()
        for proc in [*self.coordinators, *self.participants, *self.dbproxies]:
            await proc.restart()

    async def stop(self) -> None:
        for proc in [*self.participants, *self.dbproxies, *self.coordinators]:
            proc.resume()
            proc.kill()  # their state is in the databases; no need to drain
        for link in self.links.values():
            await link.close()
        for server in (self.store, self.bankdb, self.mysql):
            if server is not None:
                # in a thread: the links' aborted sockets are closed by the event loop, and PostgreSQL's
                # shutdown waits for its sessions to end (blocking the loop here cost 20 s per server)
                await asyncio.to_thread(server.stop)

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


def _dbname(service: str) -> str:
    return "bank_" + "".join(ch if ch.isalnum() else "_" for ch in service)
