"""What the wheel installs, checked on pyproject.toml: every package folder of the product under its installed
name, no generic top-level name a user's project may also have (``sql``, ``examples``), and the runtime data
inside the package that reads it. tests/integration/packaging builds and runs the wheel itself."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
INSTALLED_FOLDERS = ("sdk", "txcoord", "dbproxy", "txc", "console", "demo", "chaos", "bench", "sql", "examples")


def _installed_name(folder: Path) -> str:
    """The import name ``folder`` (a path inside the repository) installs as, through package-dir."""
    relative = folder.relative_to(REPO).as_posix()
    for name, directory in SETUPTOOLS["package-dir"].items():
        if relative == directory or relative.startswith(directory + "/"):
            return name + relative[len(directory) :].replace("/", ".")
    return relative.replace("/", ".")


def test_every_package_folder_is_installed_and_nothing_else() -> None:
    folders = {
        path
        for top in INSTALLED_FOLDERS
        for path in [REPO / top, *(REPO / top).rglob("*")]
        if path.is_dir() and "__pycache__" not in path.parts and any(path.glob("*.py"))
    }
    assert sorted(SETUPTOOLS["packages"]) == sorted(_installed_name(f) for f in folders)


def test_no_generic_name_a_users_project_may_have_is_installed_at_the_top() -> None:
    tops = {name.split(".")[0] for name in SETUPTOOLS["packages"]}
    assert not tops & {"sql", "examples"}
    assert SETUPTOOLS["package-dir"] == {"txcoord.schema": "sql", "txcoord.examples": "examples"}


def test_runtime_data_is_package_data_of_the_package_that_reads_it() -> None:
    data = SETUPTOOLS["package-data"]["*"]
    assert {"*.sql", "*.yaml", "*.ini", "*.mako", "*.lua"} <= set(data)
    assert sorted(p.name for p in (REPO / "sdk" / "ddl").glob("*.sql")) == [
        "barrier_mysql.sql",
        "barrier_postgresql.sql",
        "saga_output_mysql.sql",
        "saga_output_postgresql.sql",
    ]
    assert not (REPO / "sql" / "participant").exists()
