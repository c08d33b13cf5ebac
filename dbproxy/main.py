"""`dbproxy --config proxy.yaml`: run the proxy until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys

from dbproxy.config import load_config
from dbproxy.errors import ConfigError
from dbproxy.frontend.server import ProxyServer
from dbproxy.routing import routing_table


async def _serve(server: ProxyServer) -> None:
    await server.start()
    print(f"dbproxy listening on {server.config.listen_host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


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
    server = ProxyServer(config)
    try:
        import uvloop

        uvloop.run(_serve(server))
    except OSError as exc:
        print(f"dbproxy: cannot listen on {config.listen}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
