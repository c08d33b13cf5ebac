"""sysbench, unmodified, through a real dbproxy process: prepare, run and cleanup finish with zero errors."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy


def sysbench(proxy: Proxy, workload: str, command: str, *extra: str) -> str:
    args = [
        "sysbench",
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={proxy.port}",
        f"--mysql-user={USER}",
        f"--mysql-password={PASSWORD}",
        f"--mysql-db={LOGICAL_DB}",
        "--mysql-ssl=off",
        "--tables=1",
        "--table-size=500",
        *extra,
        workload,
        command,
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(args)}\n{out.stdout}\n{out.stderr}"
    assert "FATAL" not in out.stdout + out.stderr, out.stdout + out.stderr
    return out.stdout


def _count(report: str, name: str) -> int:
    m = re.search(rf"{name}:\s+(\d+)", report)
    assert m is not None, report
    return int(m.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("ps_mode", ["auto", "disable"])
@pytest.mark.parametrize("workload", ["oltp_read_write", "oltp_point_select", "oltp_insert"])
def test_sysbench_runs_with_zero_errors(proxy: Proxy, workload: str, ps_mode: str) -> None:
    sysbench(proxy, workload, "cleanup")
    sysbench(proxy, workload, "prepare")
    # one thread: errors sysbench "ignores" (deadlocks between its own threads) cannot happen, so any error
    # counted here is the proxy's
    report = sysbench(proxy, workload, "run", f"--db-ps-mode={ps_mode}", "--threads=1", "--events=300", "--time=0")
    assert _count(report, "ignored errors") == 0
    assert _count(report, "reconnects") == 0
    assert _count(report, "transactions") == 300
    sysbench(proxy, workload, "cleanup")
