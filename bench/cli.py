"""`txc bench ...`: benchmarks. Each prints a table (or --json) with a baseline measured in the same run."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks (throughput, p50/p99, ratio against a same-run baseline).", no_args_is_help=True)
