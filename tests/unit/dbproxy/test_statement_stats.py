"""The proxy's statement counts are what prometheus-client's own Counter and Histogram expose for the same
statements (``dbproxy.metrics.StatementStats`` only counts them more cheaply)."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from dbproxy.metrics import LATENCY_BUCKETS, StatementStats


def test_statement_stats_expose_what_a_counter_and_a_histogram_would() -> None:
    theirs = CollectorRegistry()
    counter = Counter("dbproxy_statements_total", "h", ["route", "outcome"], registry=theirs)
    histogram = Histogram(
        "dbproxy_statement_duration_seconds", "h", ["route"], buckets=LATENCY_BUCKETS, registry=theirs
    )
    ours = CollectorRegistry()
    stats = StatementStats()
    ours.register(stats)
    rng = random.Random(3)
    samples = [*LATENCY_BUCKETS, 0.0, 7.5]  # bounds themselves belong to their own bucket (le)
    samples += [rng.expovariate(1 / 0.002) for _ in range(2000)]
    for seconds in samples:
        route = rng.choice(("single", "scatter", "local"))
        outcome = rng.choice(("ok", "ok", "error"))
        stats.record(route, outcome, seconds)
        counter.labels(route, outcome).inc()
        histogram.labels(route).observe(seconds)

    def series(registry: CollectorRegistry) -> dict[str, float]:
        lines = generate_latest(registry).decode().splitlines()
        found = {}
        for line in lines:
            if line.startswith("#") or "_created" in line:
                continue
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
        return found

    mine, reference = series(ours), series(theirs)
    assert mine.keys() == reference.keys()
    for name, value in reference.items():
        assert abs(mine[name] - value) <= 1e-9 * max(1.0, abs(value)), name
    assert mine['dbproxy_statement_duration_seconds_bucket{le="+Inf",route="single"}'] > 0
