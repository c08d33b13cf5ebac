"""`dbproxy --config proxy.yaml`: run the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys

from dbproxy.config import ProxyConfig, load_config
from dbproxy.errors import ConfigError
from dbproxy.frontend.server import ProxyServer
from dbproxy.routing import routing_table
from dbproxy.transactions import Committer

log = logging.getLogger("dbproxy")


async def _serve(config: ProxyConfig) -> None:
    committer: Committer | None = None
    coordination = None
    if config.coordinated:
        from dbproxy.coordination import Coordination
        from dbproxy.xa_commit import XaCommitter

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


def version() -> str:
    try:
        return importlib.metadata.version("txcoord")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dbproxy", description="MySQL sharding proxy")
    parser.add_argument("--config", help="path to the proxy YAML configuration")
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE, print its routing table and exit")
    parser.add_argument("--version", action="version", version=f"dbproxy {version()}")
    parser.add_argument("--log-level", default="WARNING")
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
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"dbproxy: {exc.message}", file=sys.stderr)
        sys.exit(2)
    try:
        import uvloop

        uvloop.run(_serve(config))
    except OSError as exc:
        print(f"dbproxy: cannot listen on {config.listen}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
