"""`txc bench tcc` hands every option it was given to the run it starts: `--secure` with `--observability` must
measure with security on, not drop it silently."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bench.observability
import bench.tcc
import bench.tcc_variants
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
    monkeypatch.setattr(bench.tcc_variants, "run_tcc_variants", fake_variants)
    args = ["tcc", "--secure", "--no-session", "--json", *(["--observability"] if observability else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert settings.secure and not settings.session


def test_proxy_variants_cost_is_the_median_over_pairs_of_rounds_against_off_beside_it() -> None:
    """Each round's variant is compared with the "off" proxy measured beside it, and each pair of rounds (which swap
    the CPU halves) counts as one: a half that runs 10 % slower, whichever proxy gets it, cancels out. The tracing
    proxy exports to the sink; the control proxy is configured like "off"."""
    tps = {"metrics": [94.0, 104.0, 94.0, 104.0], "tracing": [80.0, 90.0, 80.0, 90.0], "control": [95.0, 105.0] * 2}
    cpu = {"metrics": [1.03, 0.99, 1.03, 0.99], "tracing": [1.2, 1.1, 1.2, 1.1], "control": [1.05, 0.95] * 2}
    given: dict[str, Any] = {}

    def sample(t: float, c: float) -> dict[str, float]:
        return {"tps": t, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "proxy_cpu_ms": c}

    def fake_run_variants(variants: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        given.update(variants=variants, **kwargs)
        beside = sample(100.0, 1.0)
        runs = {v: [{**sample(t, c), "reference": beside} for t, c in zip(tps[v], cpu[v], strict=True)] for v in tps}
        return {"workloads": {"oltp_point_select": runs}}

    out = bench.observability.proxy_variants(fake_run_variants, lambda _msg: None, rounds=4, seconds=1)
    assert given["rounds"] == 4 and given["seconds"] == 1
    assert given["variants"]["metrics"][0] == {"metrics": {"listen": "127.0.0.1:0"}}
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in given["variants"]["tracing"][1]
    assert given["variants"]["off"] == given["variants"]["control"] == ({}, {})
    # metrics lost 6 %, -4 %, 6 %, -4 %: 1 % a pair; tracing 20 %, 10 %, ...: 15 %; the control nothing
    assert out["cost_percent"]["oltp_point_select"] == {"metrics": 1.0, "tracing": 15.0, "control": 0.0}
    assert out["cost_interval"]["oltp_point_select"] == {
        "metrics": [1.0, 1.0],
        "tracing": [15.0, 15.0],
        "control": [0.0, 0.0],
    }
    assert out["cpu_cost_percent"]["oltp_point_select"] == {"metrics": 1.0, "tracing": 15.0, "control": 0.0}
    assert out["tps"]["oltp_point_select"] == {"off": 100.0, "metrics": 99.0, "tracing": 85.0, "control": 100.0}


def test_a_cost_without_pairs_is_the_median_of_the_rounds() -> None:
    runs = [{"tps": t, "cpu": 1.0, "reference": {"tps": 100.0, "cpu": 1.0}} for t in (99.0, 98.0, 50.0)]
    out = bench.observability.side_by_side({"tcc": {"metrics": runs}}, ("tps",), "cpu")
    assert out["cost_percent"]["tcc"] == {"metrics": 2.0}  # 1 %, 2 % and 50 % lost: the median
    low, high = out["cost_interval"]["tcc"]["metrics"]
    assert low <= 2.0 <= high


def test_median_interval_narrows_as_rounds_agree() -> None:
    spread = bench.observability.median_interval([-10.0, 0.0, 10.0, -5.0, 5.0, 20.0, -20.0, 1.0])
    agreeing = bench.observability.median_interval([1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.05, 0.95])
    assert spread[0] < 0 < spread[1]
    assert 0.8 <= agreeing[0] <= 1.0 <= agreeing[1] <= 1.2
    assert bench.observability.median_interval([3.0]) == [3.0, 3.0]


def test_tcc_variants_compare_each_variant_with_a_stack_configured_as_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every stack runs in every step (the same work for all); metrics and tracing are measured beside off or
    control, control beside off, and the metrics-beside-tracing step is not counted."""
    import contextlib

    speed = {"off": 100.0, "control": 100.0, "metrics": 98.0, "tracing": 90.0}
    steps: list[str] = []
    started: list[str] = []

    @contextlib.asynccontextmanager
    async def fake_stack(_settings: BenchSettings, name: str, *_args: Any) -> Any:
        started.append(name)
        yield name

    async def fake_caller(stack: Any, _settings: BenchSettings, clients: int, env: dict[str, str]) -> dict[str, Any]:
        steps.append(stack)
        assert clients == 16 and (("OTEL_EXPORTER_OTLP_ENDPOINT" in env) == (stack == "tracing"))
        return {
            "tps": speed[stack],
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "coordinator_cpu_ms": 1.0,
            "cpu_ms": 100 / speed[stack],
        }

    monkeypatch.setattr(bench.tcc_variants, "tcc_stack", fake_stack)
    monkeypatch.setattr(bench.tcc_variants, "_caller", fake_caller)
    settings = BenchSettings(clients=32, rounds=2, signed=False, log_dir=tmp_path)
    out = asyncio.run(bench.tcc_variants.run_tcc_variants(settings, lambda _msg: None))
    assert sorted(started) == ["control", "metrics", "off", "tracing"]
    assert {name: steps.count(name) for name in speed} == {name: 6 for name in speed}  # 2 rounds of 3 steps
    runs = out["runs"]
    assert [r["beside"] for r in runs["metrics"]] == ["off", "control"] * 2
    assert [r["beside"] for r in runs["tracing"]] == ["control", "off"] * 2
    assert [r["beside"] for r in runs["control"]] == ["off", "off"]
    assert out["cost_percent"]["tcc"] == {"metrics": 2.0, "tracing": 10.0, "control": 0.0}
