"""The installed distribution works anywhere: built as a wheel, installed (not editable) into a fresh
virtualenv, and run from a project folder that holds its own ``sql/``, ``demo/``, ``bench/`` and ``examples/``
packages. Each of those raises when imported, so a product import they shadow fails loudly.

Nothing is downloaded: the wheel is built with the development environment's setuptools, and the fresh
environment sees the development environment's third-party packages through a ``.pth`` line (which adds that
directory to ``sys.path`` without running its ``.pth`` files, so the editable install of txcoord stays out)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import asyncpg
import pytest

from tests.support import create_pg_database, drop_pg_database

REPO = Path(__file__).resolve().parents[3]
SOURCES = ("sdk", "txcoord", "dbproxy", "txc", "console", "demo", "chaos", "bench", "sql", "examples")
USER_FOLDERS = ("sql", "demo", "bench", "examples")

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _site(python: Path) -> Path:
    """The site-packages of the environment ``python`` belongs to."""
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(_run([str(python), "-c", code], Path("/")).stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv with the wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    # a clean copy: an in-tree build reuses build/lib, where files of earlier layouts could linger
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(source), "-w", str(wheels)], root)
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    python = venv / "bin" / "python"
    (_site(python) / "dev_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next(wheels.glob("txcoord-*.whl"))
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], root)
    return python


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project folder whose own packages carry the generic names."""
    for name in USER_FOLDERS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the project\\'s own {name}/ was imported')\n")
    return tmp_path


def test_the_wheel_installs_the_product_and_its_data_under_its_own_names(installed: Path) -> None:
    site = _site(installed)
    assert not (site / "sql").exists() and not (site / "examples").exists()
    assert (site / "txcoord" / "schema" / "migrations" / "env.py").is_file()
    assert (site / "txcoord" / "examples" / "sagas" / "book_trip.yaml").is_file()
    assert (site / "sdk" / "ddl" / "barrier_postgresql.sql").is_file()


def test_the_users_folders_do_shadow_what_comes_after_the_working_directory(installed: Path, project: Path) -> None:
    """The control: with the working directory on sys.path, the project's own packages win."""
    for name in USER_FOLDERS:
        done = subprocess.run([str(installed), "-c", f"import {name}"], cwd=project, capture_output=True, text=True)
        assert done.returncode != 0 and f"the project's own {name}/ was imported" in done.stderr


def test_saga_validate_runs_on_a_packaged_example_beside_a_users_folders(installed: Path, project: Path) -> None:
    example = _site(installed) / "txcoord" / "examples" / "sagas" / "book_trip.yaml"
    done = _run([str(installed), "-m", "txc", "saga", "validate", str(example)], project)
    assert "ok (saga book_trip v1, 4 steps)" in done.stdout


def test_demo_trips_run_from_the_installed_package_beside_a_users_folders(installed: Path, project: Path) -> None:
    done = _run(
        [str(installed), "-m", "txc", "demo", "--only", "trips", "--json", "--data-dir", str(project / "pg")],
        project,
        timeout=180,
    )
    summary = json.loads(done.stdout)
    assert summary["parts"] == ["trips"]
    trips = summary["trips"]
    assert (trips["succeeded"], trips["compensated"]) == (3, 1), trips
    assert "conserved" not in summary and summary["sharded"] == {"skipped": "not asked for"}


async def test_pg_barrier_installs_from_the_installed_sdk_beside_a_users_own(installed: Path, project: Path) -> None:
    dsn = await create_pg_database("txc_wheel")
    try:
        script = (
            "import asyncio, asyncpg\n"
            "from sdk import PgBarrier\n"
            "async def main():\n"
            f"    pool = await asyncpg.create_pool({dsn!r}, min_size=1, max_size=1)\n"
            "    await PgBarrier(pool).install()\n"
            "    await pool.close()\n"
            "asyncio.run(main())\n"
        )
        (project / "install_barrier.py").write_text(script)
        _run([str(installed), "install_barrier.py"], project)  # a script puts its own folder first on sys.path
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await conn.close()
        assert "txc_barrier" in {r["tablename"] for r in rows}, rows
    finally:
        await drop_pg_database(dsn)
