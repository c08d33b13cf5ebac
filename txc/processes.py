"""Child processes with their output in a log file: what the demo, the benchmarks and the tests start.

The one process helper of the repository (the chaos harness has its own supervisor): start, wait until the
gRPC health check says SERVING (blocking for tests, awaitable for the demo's event loop), SIGTERM or SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


class ChildProcess:
    """A process we started; its stdout and stderr go to ``log_path`` so a failure can show them."""

    def __init__(
        self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd, start_new_session=True
        )

    @property
    def name(self) -> str:
        return self.log_path.stem

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _exited(self) -> RuntimeError:
        return RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}:\n{self.output()}")

    def wait_serving(
        self,
        address: str,
        timeout: float = 20.0,
        service: str = "",
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Block until the gRPC health check at ``address`` says SERVING (over TLS when ``credentials`` are
        given), or fail with the process log."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            try:
                channel = (
                    grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(address, credentials)
                )
                with channel:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=service), timeout=1.0
                    )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as exc:
                last = str(exc.code())
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not SERVING at {address} after {timeout}s ({last}):\n{self.output()}")

    async def serving(
        self, address: str, timeout: float = 30.0, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        """:meth:`wait_serving` without blocking the event loop (the demo keeps transfers running meanwhile);
        ``credentials``: a TLS server's."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        channel_of = grpc.aio.insecure_channel(address) if credentials is None else None
        async with channel_of or grpc.aio.secure_channel(address, credentials) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while loop.time() < deadline:
                if not self.alive():
                    raise self._exited()
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not serving at {address} after {timeout}s; see {self.log_path}")

    def wait_listening(self, port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
        """Block until something accepts TCP connections on ``host:port`` (for non-gRPC servers such as dbproxy)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.name} not listening on {host}:{port} after {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL to the process group: no cleanup code runs, exactly like a crash."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the graceful path (raises if it does not exit in time, after a SIGKILL)."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._log.close()
        return code

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if it has not exited after ``timeout`` seconds."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.terminate(timeout)
