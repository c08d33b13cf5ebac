"""`dbproxy --config proxy.yaml`: run the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys

from dbproxy.config import ProxyConfig, load_config
from dbproxy.config_printer import routing_table
from dbproxy.errors import ConfigError, ProxyError
from dbproxy.executor.context import ProxyContext
from dbproxy.frontend.server import ProxyServer
from dbproxy.grants import grants_script
from dbproxy.logs import setup_logging
from dbproxy.metrics_http import serve as serve_metrics
from dbproxy.router.dialects import DEFAULT_READING, Reading, reading_of_sql_mode
from dbproxy.tracing import setup_tracing
from dbproxy.xa.transactions import Committer

log = logging.getLogger("dbproxy")


async def _serve(config: ProxyConfig) -> None:
    committer: Committer | None = None
    coordination = None
    if config.coordinated:
        from dbproxy.xa.commit import XaCommitter
        from dbproxy.xa.coordination import Coordination

        try:
            coordination = Coordination(config)
        except ConfigError as exc:
            raise SystemExit(f"dbproxy: {exc.message}") from exc
        if len(config.backends) > 1:  # one backend: a local commit is atomic already
            committer = XaCommitter(coordination)
    elif len(config.backends) > 1:
        log.warning(
            "transactions.mode: best_effort: a transaction that writes on several backends commits them one "
            "after another and may be left partially committed if a backend or the proxy fails during COMMIT"
        )
    server = ProxyServer(config, committer)
    server.context.reading = await _servers_reading(server.context)
    if config.metrics is not None:  # before clients: sessions and commits are counted from the first one
        print(f"dbproxy metrics on http://{serve_metrics(config.metrics.listen, server.context)}/metrics", flush=True)
    if coordination is not None:
        # registered (and recovering what a previous instance left prepared) before clients are accepted
        try:
            await coordination.start(server.context.pools)
        except Exception as exc:
            await coordination.close()
            server.context.pools.close()
            if isinstance(exc, ConfigError):
                raise SystemExit(f"dbproxy: {exc.message}") from exc
            where = config.transactions.registry or config.transactions.coordinator
            raise SystemExit(f"dbproxy: cannot register at {where}: {exc}") from exc
        print(f"dbproxy service {coordination.service!r} registered at {coordination.address}", flush=True)
    await server.start()
    print(f"dbproxy listening on {server.config.listen_host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()  # sessions end first: their commits queue reports that close() sends
    if coordination is not None:
        await coordination.close()


async def _servers_reading(ctx: ProxyContext) -> Reading:
    """How sessions' statements are read until they SET sql_mode: the backends' global sql_mode (a server
    started with ANSI_QUOTES or NO_BACKSLASH_ESCAPES reads every new session's statements that way). Backends
    that disagree cannot be served by one reading; one that cannot be asked now is assumed to agree."""
    readings: dict[str, Reading] = {}
    for name in ctx.config.backends:
        pool = ctx.pools[name]
        try:
            conn = await pool.acquire(False, 45, ())
        except ProxyError as exc:
            log.warning("cannot read backend %s's sql_mode at startup (%s); assuming MariaDB's default", name, exc)
            continue
        try:
            mode = (await conn.query("SELECT @@GLOBAL.sql_mode")).rows[0][0] or b""
        finally:
            pool.release(conn)
        try:
            readings[name] = reading_of_sql_mode(mode.decode("ascii", "replace"))
        except ProxyError as exc:
            raise SystemExit(f"dbproxy: backend {name}: {exc.message}") from None
    if len(set(readings.values())) > 1:
        raise SystemExit(f"dbproxy: backends have sql_modes that read statements differently: {readings}")
    return next(iter(readings.values()), DEFAULT_READING)


def version() -> str:
    try:
        return importlib.metadata.version("txcoord")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dbproxy", description="MySQL sharding proxy")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["grants"],
        help="grants: print the CREATE USER / GRANT statements for every users.<name>.backend_account",
    )
    parser.add_argument("--config", help="path to the proxy YAML configuration")
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE, print its routing table and exit")
    parser.add_argument("--version", action="version", version=f"dbproxy {version()}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="what the proxy logs (default WARNING)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), help="default: $TXC_LOG_FORMAT or text")
    args = parser.parse_args(argv)
    if args.check_config:
        try:
            checked = load_config(args.check_config)
        except ConfigError as exc:
            print(f"dbproxy: {exc.message}", file=sys.stderr)
            sys.exit(2)
        print(f"{args.check_config}: valid\n{routing_table(checked)}")
        return
    if not args.config:
        parser.error("--config FILE is required (or --check-config FILE, --version)")
    if args.command == "grants":
        try:
            print(grants_script(load_config(args.config)), end="")
        except ConfigError as exc:
            print(f"dbproxy: {exc.message}", file=sys.stderr)
            sys.exit(2)
        return
    setup_logging(args.log_level, args.log_format)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"dbproxy: {exc.message}", file=sys.stderr)
        sys.exit(2)
    setup_tracing("dbproxy")  # only if OTEL_* variables ask for it
    try:
        import uvloop

        uvloop.run(_serve(config))
    except OSError as exc:
        print(f"dbproxy: cannot listen on {config.listen}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
