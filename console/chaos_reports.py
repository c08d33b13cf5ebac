"""The chaos harness's reports under a folder: each ``report.html`` with the verdict of its ``report.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MAX_REPORTS = 500


@dataclass(frozen=True)
class ChaosReport:
    path: str  # relative to the folder: what a link names
    verdict: str  # passed, FAILED, or unknown (no readable report.json beside it)
    workload: str
    written_at: str


def _summary(html: Path) -> dict[str, object]:
    try:
        value = json.loads((html.parent / "report.json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def find_reports(folder: Path) -> list[ChaosReport]:
    """The newest reports first (at most ``MAX_REPORTS``)."""
    if not folder.is_dir():
        return []
    found = sorted(folder.rglob("report.html"), key=lambda p: p.stat().st_mtime, reverse=True)[:MAX_REPORTS]
    reports = []
    for html in found:
        summary = _summary(html)
        passed = summary.get("passed")
        verdict = "passed" if passed is True else "FAILED" if passed is False else "unknown"
        written = datetime.fromtimestamp(html.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
        reports.append(ChaosReport(str(html.relative_to(folder)), verdict, str(summary.get("workload", "")), written))
    return reports


def report_file(folder: Path, relative: str) -> Path | None:
    """The report named ``relative`` if it is a report.html inside ``folder`` (never a file outside it)."""
    if "\x00" in relative:
        return None
    root = folder.resolve()
    path = (root / relative).resolve()
    if path.name != "report.html" or not path.is_relative_to(root) or not path.is_file():
        return None
    return path
