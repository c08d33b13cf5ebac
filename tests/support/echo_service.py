"""A tiny participant for registry and RPC tests: `python -m tests.support.echo_service --listen ... --registry ...`.

Actions: ``echo`` (returns the payload and this process's address) and ``slow`` (sleeps ``seconds`` first)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import grpc

from sdk.rpc import current_gid
from sdk.service_server import ServiceServer


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--service", default="test.Echo")
    parser.add_argument("--ttl", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    host = ServiceServer(args.listen, args.registry.split(","), ttl=args.ttl, name=args.service)

    async def echo(payload: Any, context: grpc.aio.ServicerContext) -> Any:
        return {"payload": payload, "address": host.server.address, "gid": current_gid.get()}

    async def slow(payload: Any, context: grpc.aio.ServicerContext) -> Any:
        print(f"slow call started: {payload.get('seconds', 1.0)}", flush=True)  # tests wait for this line
        await asyncio.sleep(float(payload.get("seconds", 1.0)))
        return {"slept": payload.get("seconds", 1.0), "address": host.server.address}

    host.add_json_service(args.service, {"echo": echo, "slow": slow})
    await host.run(grace=10.0)


if __name__ == "__main__":
    asyncio.run(main())
