"""Real child processes for integration tests: start, wait until healthy, SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class ManagedProcess:
    """A process the test owns. Output goes to a log file so a failing test can show it."""

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_serving(
        self,
        address: str,
        timeout: float = 20.0,
        service: str = "",
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Block until the gRPC health check at ``address`` says SERVING, or fail with the process log."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.args} exited with {self.popen.returncode}:\n{self.output()}")
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
        raise TimeoutError(f"{self.args} not SERVING at {address} after {timeout}s ({last}):\n{self.output()}")

    def wait_listening(self, port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
        """Block until something accepts TCP connections on ``host:port`` (for non-gRPC servers such as dbproxy)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.args} exited with {self.popen.returncode}:\n{self.output()}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.args} not listening on {host}:{port} after {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup code runs, exactly like a crash."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the graceful path."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._log.close()
        return code


def start_process(args: Sequence[str], log_dir: Path, name: str, env: dict[str, str] | None = None) -> ManagedProcess:
    """Start ``args`` (``txc`` and ``dbproxy`` resolve to this venv's scripts)."""
    argv = list(args)
    if argv and (VENV_BIN / argv[0]).exists():
        argv[0] = str(VENV_BIN / argv[0])
    log_dir.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(argv, log_dir / f"{name}.log", env)
