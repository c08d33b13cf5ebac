"""A txc process that starts children while gRPC is busy prints no ``fork_posix.cc`` line (issue #7: ``txc demo``
ended with one). A real gRPC server and client in a child Python that imports ``txc`` first, forking as
embedded PostgreSQL's pg_ctl does (subprocess with ``user=`` cannot use vfork)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    """
    import txc  # first, as the txc command does
    import asyncio, subprocess, grpc

    async def main(user: str) -> None:
        server = grpc.aio.server()
        echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", {"E": echo}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        call = channel.unary_unary("/t.T/E")
        done = asyncio.Event()

        async def hammer() -> None:
            while not done.is_set():
                await call(b"x")

        callers = [asyncio.create_task(hammer()) for _ in range(8)]
        for _ in range(30):
            await asyncio.to_thread(subprocess.run, ["true"], user=user, check=True)
        done.set()
        await asyncio.gather(*callers)
        await channel.close()
        await server.stop(None)
        print("forked 30 times")

    asyncio.run(main(__import__("sys").argv[1]))
    """
)


def test_children_started_while_grpc_is_busy_leave_no_fork_posix_line() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test forks as another user, like embedded PostgreSQL does: run it as root")
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    user = pwd.getpwnam("nobody").pw_name
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, user], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "forked 30 times" in done.stdout
    assert "fork_posix" not in done.stderr, done.stderr
