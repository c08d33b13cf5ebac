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


def test_proxy_variants_cost_is_the_median_of_each_rounds_loss_against_off_beside_it() -> None:
    """Each round's variant is compared with the "off" proxy measured beside it; the tracing proxy exports to the
    sink, the control proxy is configured like "off"."""
    tps = {"metrics": [99.0, 196.0, 50.0], "tracing": [90.0, 150.0, 80.0], "control": [100.0, 202.0, 99.0]}
    off = {"metrics": [100.0, 200.0, 100.0], "tracing": [100.0, 200.0, 100.0], "control": [100.0, 200.0, 100.0]}
    cpu = {"metrics": [1.01, 1.02, 1.0], "tracing": [1.1, 1.2, 1.3], "control": [1.0, 1.0, 1.0]}
    given: dict[str, Any] = {}

    def sample(t: float, c: float) -> dict[str, float]:
        return {"tps": t, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "proxy_cpu_ms": c}

    def fake_run_variants(variants: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        given.update(variants=variants, **kwargs)
        runs = {
            v: [{**sample(t, c), "reference": sample(o, 1.0)} for t, c, o in zip(tps[v], cpu[v], off[v], strict=True)]
            for v in tps
        }
        return {"workloads": {"oltp_point_select": runs}}

    out = bench.observability.proxy_variants(fake_run_variants, lambda _msg: None, rounds=3, seconds=1)
    assert given["rounds"] == 3 and given["seconds"] == 1
    assert given["variants"]["metrics"][0] == {"metrics": {"listen": "127.0.0.1:0"}}
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in given["variants"]["tracing"][1]
    assert given["variants"]["off"] == given["variants"]["control"] == ({}, {})
    # metrics lost 1 %, 2 % and 50 % in its rounds: the median is 2 %; tracing 10 %, 25 %, 20 %: 20 %
    costs = out["cost_percent"]["oltp_point_select"]
    assert costs == {"metrics": 2.0, "tracing": 20.0, "control": 0.0}
    for variant, (low, high) in out["cost_interval"]["oltp_point_select"].items():
        assert low <= costs[variant] <= high
    assert out["cost_interval"]["oltp_point_select"]["metrics"] == [1.0, 50.0]  # three rounds: any can be the median
    assert out["cpu_cost_percent"]["oltp_point_select"] == {"metrics": 1.0, "tracing": 20.0, "control": 0.0}
    assert out["tps"]["oltp_point_select"] == {"off": 100.0, "metrics": 99.0, "tracing": 90.0, "control": 100.0}


def test_median_interval_narrows_as_rounds_agree() -> None:
    spread = bench.observability.median_interval([-10.0, 0.0, 10.0, -5.0, 5.0, 20.0, -20.0, 1.0])
    agreeing = bench.observability.median_interval([1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.05, 0.95])
    assert spread[0] < 0 < spread[1]
    assert 0.8 <= agreeing[0] <= 1.0 <= agreeing[1] <= 1.2
    assert bench.observability.median_interval([3.0]) == [3.0, 3.0]
