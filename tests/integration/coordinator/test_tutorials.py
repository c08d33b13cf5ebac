"""The tutorials' commands run exactly as printed (issue 23): docs/tcc.md and docs/security.md.

Each page is read in order: a ```python block whose first line is ``# file: NAME`` is written to that file, every
```sh block is a command run in one shell session in a fresh folder, except the block that starts with
``# settings``, which this test replaces by its own values (a free port, databases of its own). The session's
background processes share one process group, killed at the end whatever happened."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.databases import create_mariadb_database, drop_mariadb_database

REPO = Path(__file__).resolve().parents[3]
NewDb = Callable[..., Awaitable[str]]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def script_of(page: Path, settings: dict[str, str], folder: Path) -> str:
    """The page's shell commands as one script (its files written into ``folder`` on the way)."""
    commands = ["set -e"]
    found_settings = False
    for lang, body in BLOCK.findall(page.read_text()):
        first = body.split("\n", 1)[0]
        if lang == "python" and first.startswith("# file: "):
            name = first.removeprefix("# file: ").strip()
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        elif lang == "sh" and first.strip() == "# settings":
            declared = re.findall(r"^export (\w+)=", body, re.MULTILINE)
            assert sorted(declared) == sorted(settings), f"{page.name}: settings {declared} vs the test's {settings}"
            commands += [f"export {name}={value}" for name, value in settings.items()]
            found_settings = True
        elif lang == "sh":
            commands.append(body)
    assert found_settings, f"{page.name}: no `# settings` block"
    return "\n".join(commands)


def run_page(page: Path, settings: dict[str, str], folder: Path, timeout: float = 180) -> str:
    """Run the page's commands with bash; its output (stdout and stderr). Fails on a non-zero exit."""
    folder.mkdir(parents=True, exist_ok=True)
    script = script_of(page, settings, folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` and `txc` of this venv
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode() if isinstance(exc.output, bytes) else str(exc.output or "")
        output += f"\n[still running after {timeout}s]"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and participants it started in the background
        proc.wait()
    assert proc.returncode == 0, f"{page.name} failed ({proc.returncode}):\n{output}\n{_logs(folder)}"
    return output


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(folder.rglob("*.log")))


@pytest.fixture
def mariadb_db() -> object:
    name = create_mariadb_database("txc_tutorial")
    yield name
    drop_mariadb_database(name)


@pytest.mark.slow
async def test_the_tcc_tutorial_runs_as_printed_on_postgresql_and_mariadb(
    new_db: NewDb, mariadb_db: str, tmp_path: Path
) -> None:
    settings = {
        "TXC_COORDINATOR": f"127.0.0.1:{free_port()}",
        "TXC_STORE": await new_db(),
        "BANK_A_DB": await new_db(),
        "BANK_B_DB": await new_db(),
        "BANK_C_DB": mariadb_db,
    }
    output = run_page(REPO / "docs" / "tcc.md", settings, tmp_path / "tutorial")
    lines = [line.split() for line in output.splitlines()]
    assert ["A", "|", "70", "|", "0"] in lines, output  # after the first transfer: A paid 30, nothing frozen
    assert ["B", "|", "30", "|", "0"] in lines, output
    assert re.search(
        r" refused: FAILED_PRECONDITION .*bank-a.debit failed: ValueError: account A cannot pay 1000", output
    )
    assert "transfer refused, exit code 1" in output
    assert ["C", "20", "0"] in lines, output  # the MariaDB bank, credited and confirmed


async def test_the_security_page_makes_certificates_with_a_subject_alt_name_and_runs_a_tls_coordinator(
    new_db: NewDb, tmp_path: Path
) -> None:
    settings = {"TXC_COORDINATOR": f"127.0.0.1:{free_port()}", "TXC_STORE": await new_db()}
    output = run_page(REPO / "docs" / "security.md", settings, tmp_path / "security")
    assert "IP Address:127.0.0.1, DNS:localhost" in output, output
    assert "server.pem: OK" in output
    assert f"registry {settings['TXC_COORDINATOR']}" in output, output  # `txc registry ls` over TLS
    assert "THIS PROCESS must dial TLS: give it the CA (TXC_TLS_CA" in output, output
    assert "refused without the CA" in output
