"""Child processes of the demo and the benchmark: a coordinator and bank participants, with logs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def txc_command() -> list[str]:
    script = Path(sys.executable).with_name("txc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "txc"]


class Child:
    """A child process whose output goes to ``log_dir/name.log``."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    async def wait_serving(self, address: str, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while loop.time() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited ({self.popen.returncode}); see {self.log_path}")
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not serving at {address} after {timeout}s; see {self.log_path}")


def start_coordinator(
    address: str, store: str | None, log_dir: Path, *extra: str, data_dir: Path | None = None
) -> Child:
    args = [*txc_command(), "coordinator", "--listen", address]
    if store is not None:
        args += ["--store", store]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return Child("coordinator", [*args, *extra], log_dir)


def start_bank(
    service: str, db: str, registry: str, log_dir: Path, accounts: str = "", *extra: str, listen: str | None = None
) -> Child:
    args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db, "--registry", registry]
    args += ["--listen", listen or free_address(), "--accounts", accounts, *extra]
    return Child(service, args, log_dir)
