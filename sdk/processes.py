"""Child processes with their output in a log file: the one process harness of the repository.

What ``txc demo``, the benchmarks, the chaos harness and the integration tests start (coordinators,
participants, proxies): start, wait until ready (gRPC health SERVING, or a TCP port accepting), SIGTERM, SIGKILL
(a crash: no cleanup code runs), SIGSTOP/SIGCONT, and restart with the same arguments. Python children are
started with ``-P`` so the directory they run in never shadows an import of ours (a user's own ``sql/`` or
``demo/`` folder)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = [
    "ChildProcess",
    "ProcessFailed",
    "ProcessNotReady",
    "free_address",
    "free_port",
    "python_command",
    "script_command",
    "txc_command",
]


class ProcessFailed(RuntimeError):
    """A child exited while it was expected to start, or did not become ready; the message names its log."""


class ProcessNotReady(ProcessFailed, TimeoutError):
    """A child still running but not ready after the timeout."""


_issued: set[int] = set()
_issuing = threading.Lock()
_LOWEST = 20000  # above the well-known services (PostgreSQL, MariaDB, Prometheus, ...)


def _ephemeral_low() -> int:
    """The first port the OS gives outgoing connections (Linux: ip_local_port_range, 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1, free now and never handed out before by this process.

    Drawn below the OS's ephemeral range when there is room: a port the OS picked (bind to 0) and this process
    released can be picked again by the next such call before its child binds it (two servers given one port),
    or taken meanwhile as the source port of any outgoing connection."""
    low = _ephemeral_low()
    with _issuing:
        for _ in range(200):
            port = random.randrange(_LOWEST, low) if low - _LOWEST > 1000 else 0
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = int(sock.getsockname()[1])
            if port not in _issued:
                _issued.add(port)
                return port
    raise RuntimeError("free_port: no free TCP port on 127.0.0.1 after 200 tries")


def free_address() -> str:
    return f"127.0.0.1:{free_port()}"


def python_command(*args: str) -> list[str]:
    """This interpreter with ``args`` (``-m module ...`` or a script path), never the working directory on
    ``sys.path``."""
    return [sys.executable, "-P", *args]


def script_command(script: str, module: str) -> list[str]:
    """A console script of this environment (``txc``, ``dbproxy``), or ``python -m module`` without one."""
    path = Path(sys.executable).with_name(script)
    return [str(path)] if path.exists() else python_command("-m", module)


def txc_command(*args: str) -> list[str]:
    """``txc`` with ``args`` (``coordinator --listen ...``, ``db upgrade ...``)."""
    return [*script_command("txc", "txc"), *args]


class ChildProcess:
    """A process we started in its own session (signals reach its whole group); stdout and stderr go to
    ``log_path``. ``address`` is where it serves gRPC, when it does (the default of the readiness waits)."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        *,
        address: str | None = None,
        start: bool = True,
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd
        self.address = address
        self.popen: subprocess.Popen[bytes] | None = None
        self.paused = False
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start (again, with the same arguments); the log is appended to."""
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
            )
        self.paused = False

    @property
    def name(self) -> str:
        return self.log_path.stem

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.returncode

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def finish(self, timeout: float) -> str:
        """Wait for a process that ends by itself (a client, a tool) and return what it wrote; ProcessFailed if it
        exited with an error or did not end in ``timeout`` seconds (it is then killed)."""
        if self.popen is None:
            raise ProcessFailed(f"{self.name} was never started")
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProcessFailed(f"{self.name} did not end in {timeout:g}s; see {self.log_path}") from None
        if self.popen.returncode != 0:
            raise self._exited()
        return self.output()

    def _exited(self) -> ProcessFailed:
        return ProcessFailed(f"{self.name} exited with {self.returncode}; see {self.log_path}:\n{self.output()}")

    def _address(self, address: str | None) -> str:
        found = address or self.address
        if found is None:
            raise ValueError(f"{self.name}: no gRPC address to check")
        return found

    def wait_serving(
        self,
        address: str | None = None,
        timeout: float = 20.0,
        service: str = "",
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Block until the gRPC health check says SERVING (over TLS when ``credentials`` are given), or fail with
        the process log."""
        target = self._address(address)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            channel = grpc.insecure_channel(target) if credentials is None else grpc.secure_channel(target, credentials)
            try:
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
        raise ProcessNotReady(f"{self.name} not SERVING at {target} after {timeout}s ({last}):\n{self.output()}")

    async def serving(
        self, address: str | None = None, timeout: float = 30.0, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        """:meth:`wait_serving` without blocking the event loop (over TLS when ``credentials`` are given)."""
        target = self._address(address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        channel_of = grpc.aio.insecure_channel(target) if credentials is None else None
        async with channel_of or grpc.aio.secure_channel(target, credentials) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while loop.time() < deadline:
                if not self.alive():
                    raise self._exited()
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.1)
        raise ProcessNotReady(f"{self.name} not serving at {target} after {timeout}s; see {self.log_path}")

    def wait_listening(self, port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
        """Block until something accepts TCP connections on ``host:port`` (servers without gRPC health)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._exited()
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ProcessNotReady(f"{self.name} not listening on {host}:{port} after {timeout}s:\n{self.output()}")

    async def restart(self, timeout: float = 120.0) -> None:
        """Start again until it serves: a process may exit at start while what it depends on (its store) is still
        recovering, and is restarted as a supervisor would."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self.alive():
                self.start()
            try:
                await self.serving(timeout=max(1.0, deadline - loop.time()))
                return
            except ProcessFailed:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.5)

    def kill(self) -> int | None:
        """SIGKILL to the process group: no cleanup code runs, exactly like a crash. The return code (-9)."""
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

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait: the graceful path (raises if it does not exit in time, after a SIGKILL)."""
        if self.popen is None:
            return None
        self.resume()
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if it has not exited after ``timeout`` seconds."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.terminate(timeout)
