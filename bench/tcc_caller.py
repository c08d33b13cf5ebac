"""A TCC bench caller in a process of its own: ``--clients`` coroutines run two-branch transfers through the
coordinator at ADDRESS (warm-up, then ``--seconds`` measured) and the summary, CPU per transaction of the
processes given included, is printed as one JSON object. ``txc bench tcc --observability`` runs one caller per
stack at the same time, so each caller is traced, or not, by its own environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from bench.harness import BenchSettings, CpuMeter, Run
from bench.tcc import tcc_transfers
from sdk.coordinator_client import CoordinatorClient
from sdk.observability.tracing import shutdown_tracing
from sdk.rpc import ClientSecurity


async def measure(address: str, settings: BenchSettings, meter: CpuMeter) -> dict[str, Any]:
    client = CoordinatorClient(address, session=settings.session, security=ClientSecurity.from_env())
    try:
        run = Run()
        run.add(await tcc_transfers(settings, client, {"session": 0, "try": 0, "txn": 0}, meter))
    finally:
        await client.close()
    return run.summary()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("address", help="the coordinator, HOST:PORT")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--no-session", action="store_true", help="unary calls instead of one session stream")
    parser.add_argument("--meter", action="append", default=[], metavar="GROUP=PID,...", help="processes to meter")
    args = parser.parse_args(argv)
    groups = {"caller": [os.getpid()]}
    for given in args.meter:
        name, _, pids = given.partition("=")
        groups[name] = [int(pid) for pid in pids.split(",")]
    settings = BenchSettings(
        clients=args.clients, seconds=args.seconds, warmup=args.warmup, session=not args.no_session
    )
    import uvloop

    uvloop.install()
    summary = asyncio.run(measure(args.address, settings, CpuMeter(groups, without_children=tuple(groups))))
    shutdown_tracing()  # what the spans cost includes sending them
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
