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


def test_proxy_variants_cost_is_the_median_of_each_rounds_loss_against_off_next_to_it() -> None:
    """Each round's variants are compared with that round's "off"; the tracing proxy exports to the sink."""
    tps = {"off": [100.0, 200.0, 100.0], "metrics": [99.0, 196.0, 50.0], "tracing": [90.0, 150.0, 80.0]}
    cpu = {"off": [1.0, 1.0, 1.0], "metrics": [1.01, 1.02, 1.0], "tracing": [1.1, 1.2, 1.3]}
    given: dict[str, Any] = {}

    def fake_run_variants(variants: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        given.update(variants=variants, **kwargs)
        runs = {
            v: [{"tps": t, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "proxy_cpu_ms": c}
                for t, c in zip(tps[v], cpu[v], strict=True)]
            for v in tps
        }  # fmt: skip
        return {"workloads": {"oltp_point_select": runs}}

    out = bench.observability.proxy_variants(fake_run_variants, lambda _msg: None, rounds=3, seconds=1)
    assert given["rounds"] == 3 and given["seconds"] == 1
    assert given["variants"]["metrics"][0] == {"metrics": {"listen": "127.0.0.1:0"}}
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in given["variants"]["tracing"][1]
    assert given["variants"]["off"] == ({}, {})
    # metrics lost 1 %, 2 % and 50 % in its rounds: the median is 2 %; tracing 10 %, 25 %, 20 %: 20 %
    assert out["cost_percent"]["oltp_point_select"] == {"metrics": 2.0, "tracing": 20.0}
    assert out["cpu_cost_percent"]["oltp_point_select"] == {"metrics": 1.0, "tracing": 20.0}
    assert out["tps"]["oltp_point_select"] == {"off": 100.0, "metrics": 99.0, "tracing": 90.0}
