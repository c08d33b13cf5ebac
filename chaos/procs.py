"""Child processes of a chaos system (coordinators, participants): start, SIGKILL, SIGSTOP/SIGCONT, restart
with the same arguments, and wait until they answer gRPC health checks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chaos.errors import ChaosError


class Proc:
    def __init__(self, name: str, args: list[str], log_dir: Path, address: str, env: dict[str, str] | None = None):
        self.name = name
        self.args = args
        self.address = address  # where it listens (gRPC health is checked here, not through a link)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.paused = False

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own copy
        try:
            self.popen = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        finally:
            log.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> int | None:
        """SIGKILL the process group (a crash: no cleanup code runs); the return code seen (-9)."""
        if self.popen is None:
            return None
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.paused = False
        return self.popen.wait(timeout=30)

    def pause(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.alive() and self.paused:
            os.killpg(self.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 10.0) -> None:
        self.resume()
        if self.popen is not None and self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    async def restart(self, timeout: float = 120.0) -> None:
        """Start again (same arguments, same port) until it serves: a process may exit at start while what it
        depends on (the store) is still recovering, as a supervisor would restart it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self.alive():
                self.start()
            try:
                await self.wait_serving(timeout=max(1.0, deadline - loop.time()))
                return
            except ChaosError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.5)

    async def wait_serving(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while loop.time() < deadline:
                if not self.alive():
                    code = self.popen.returncode if self.popen else None
                    raise ChaosError(f"{self.name} exited ({code}) while starting; see {self.log_path}")
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        raise ChaosError(f"{self.name} not serving at {self.address} after {timeout}s; see {self.log_path}")
