"""`txc bench tcc` hands every option it was given to the run it starts: `--secure` with `--observability` must
measure with security on, not drop it silently."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import bench.observability
import bench.tcc
from bench.cli import app
from bench.harness import BenchSettings


@pytest.mark.parametrize("observability", [False, True])
def test_secure_reaches_the_benchmark_settings(monkeypatch: pytest.MonkeyPatch, observability: bool) -> None:
    seen: list[BenchSettings] = []

    async def fake_bench(settings: BenchSettings, **_kwargs: Any) -> dict[str, Any]:
        seen.append(settings)
        return {}

    async def fake_variants(settings: BenchSettings, *_args: Any) -> dict[str, Any]:
        seen.append(settings)
        return {}

    monkeypatch.setattr("uvloop.install", lambda: None)  # the loop policy stays the test session's
    monkeypatch.setattr(bench.tcc, "run_bench", fake_bench)
    monkeypatch.setattr(bench.observability, "tcc_variants", fake_variants)
    args = ["tcc", "--secure", "--no-session", "--json", *(["--observability"] if observability else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert settings.secure and not settings.session
