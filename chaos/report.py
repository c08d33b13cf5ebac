"""The run's report: ``report.json`` (seed, schedule, per fault kind counts and recovery times, checker
results) and ``report.html`` with the throughput and latency plots, fault windows shaded."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.checkers import DONE, TERMINAL, UNDONE
from chaos.history import FaultWindow, History, Op
from chaos.model import Check
from chaos.schedule import Entry
from chaos.system import LEASE

if TYPE_CHECKING:
    from chaos.netproxy import Link
    from chaos.runner import RunOptions


def _overlaps(op: Op, window: FaultWindow) -> bool:
    end = window.end if window.end is not None else float("inf")
    return op.start < end and op.end >= window.start


def summarize(
    options: RunOptions,
    history: History,
    schedule: list[Entry],
    checks: list[Check],
    states: dict[str, str],
    not_applicable: dict[str, str],
    slow: list[dict[str, Any]],
    waited: float,
    links: dict[str, Link],
    events: list[tuple[str, float]],
) -> dict[str, Any]:
    offenders: dict[str, list[str]] = defaultdict(list)  # gid -> names of checks it broke
    for check in checks:
        for item in check.offenders:
            if "gid" in item:
                offenders[str(item["gid"])].append(check.name)
    per_kind: dict[str, dict[str, Any]] = {}
    kinds = sorted({w.kind for w in history.faults} | set(options.faults or []))
    for kind in kinds:
        windows = [w for w in history.faults if w.kind == kind]
        ops = {op.index: op for w in windows for op in history.ops if _overlaps(op, w)}.values()
        recovery = []
        for w in windows:
            after = [
                op.end - w.end for op in history.ops if w.end is not None and op.start >= w.end and op.outcome == "ok"
            ]
            recovery.append(round(min(after), 3) if after else None)
        per_kind[kind] = {
            "injected": len(windows),
            "attempted": len(ops),
            "committed": sum(states.get(str(op.args.get("gid"))) in DONE for op in ops),
            "rolled_back": sum(states.get(str(op.args.get("gid"))) in (*UNDONE, None) for op in ops),
            "client_ok": sum(op.outcome == "ok" for op in ops),
            "client_failed": sum(op.outcome == "failed" for op in ops),
            "unknown": sum(op.outcome == "unknown" for op in ops),
            "invariant_violations": sum(str(op.args.get("gid")) in offenders for op in ops),
            "stuck": sum(states.get(str(op.args.get("gid"))) not in (*TERMINAL, None) for op in ops),
            "recovery_seconds": recovery,
            # recorded by the coordinators in the store during the window or within two leases after it
            "takeovers": sum(
                1 for e, t in events for w in windows if e == "taken_over" and w.start <= t <= (w.end or t) + 2 * LEASE
            ),
            "timeouts": sum(
                1 for e, t in events for w in windows if e == "timed_out" and w.start <= t <= (w.end or t) + 2 * LEASE
            ),
            "evidence": [w.evidence for w in windows],
            **({"not_applicable": not_applicable[kind]} if kind in not_applicable else {}),
        }
    for kind, reason in not_applicable.items():
        per_kind.setdefault(kind, {"injected": 0, "not_applicable": reason})
    latencies = sorted(op.latency for op in history.ops if op.outcome == "ok")
    return {
        "workload": options.workload,
        "seed": options.seed,
        "duration": options.duration,
        "clients": options.clients,
        "faults": options.faults or "all",
        "passed": all(c.ok for c in checks),
        "replay": (
            f"txc chaos run --workload {options.workload} --seed {options.seed} --duration {options.duration:g}"
            f" --clients {options.clients}" + (f" --faults {','.join(options.faults)}" if options.faults else "")
        ),
        "totals": {
            "attempted": len(history.ops),
            "ok": sum(op.outcome == "ok" for op in history.ops),
            "failed": sum(op.outcome == "failed" for op in history.ops),
            "unknown": sum(op.outcome == "unknown" for op in history.ops),
            "committed": sum(s in DONE for s in states.values()),  # sagas: SUCCEEDED
            "rolled_back": sum(s in UNDONE for s in states.values()),  # sagas: COMPENSATED
            "ok_per_second": round(sum(op.outcome == "ok" for op in history.ops) / max(options.duration, 1), 2),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        },
        "takeovers": sum(e == "taken_over" for e, _ in events),
        "timeouts": sum(e == "timed_out" for e, _ in events),
        "quiescent_after_seconds": round(waited, 2),
        "slowest_transactions": slow,
        "per_kind": per_kind,
        "schedule": [e.to_json() for e in schedule],
        "links": {name: link.stats.snapshot() for name, link in links.items()},
        "checks": [
            {
                "name": c.name,
                "ok": c.ok,
                "detail": c.detail,
                "offenders": c.offenders[:50],
                "offender_count": len(c.offenders),
            }
            for c in checks
        ],
    }


def plot_png(history: History) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate, lat) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    horizon = int(max([op.end for op in history.ops] + [1.0])) + 1
    series: tuple[tuple[str, str], ...] = (("ok", "tab:green"), ("failed", "tab:orange"), ("unknown", "tab:red"))
    for outcome, color in series:
        counts = [0] * horizon
        for op in history.ops:
            if op.outcome == outcome:
                counts[int(op.end)] += 1
        rate.plot(range(horizon), counts, color=color, label=outcome, drawstyle="steps-post")
        points = [(op.start, op.latency * 1000) for op in history.ops if op.outcome == outcome]
        if points:
            xs, ys = zip(*points, strict=True)
            lat.scatter(xs, ys, s=4, color=color, label=outcome, alpha=0.6)
    colors = plt.get_cmap("tab10")
    kinds = sorted({w.kind for w in history.faults})
    for window in history.faults:
        shade = colors(kinds.index(window.kind) % 10)
        for ax in (rate, lat):
            ax.axvspan(window.start, window.end or horizon, color=shade, alpha=0.15, lw=0)
        rate.text(window.start, rate.get_ylim()[1] * 0.98, window.kind, fontsize=7, rotation=90, va="top")
    rate.set_ylabel("operations / s")
    rate.legend(loc="upper right", fontsize=8)
    lat.set_ylabel("latency (ms)")
    lat.set_yscale("log")
    lat.set_xlabel("seconds since start (shaded: fault windows)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_html(path: Path, summary: dict[str, Any], history: History) -> None:
    png = base64.b64encode(plot_png(history)).decode()
    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{v.get('injected', 0)}</td><td>{v.get('attempted', '')}</td>"
        f"<td>{v.get('committed', '')}</td><td>{v.get('rolled_back', '')}</td><td>{v.get('unknown', '')}</td>"
        f"<td>{v.get('invariant_violations', '')}</td><td>{v.get('stuck', '')}</td>"
        f"<td>{html.escape(str(v.get('recovery_seconds', v.get('not_applicable', ''))))}</td></tr>"
        for kind, v in summary["per_kind"].items()
    )
    checks = "".join(
        f"<tr><td>{'PASS' if c['ok'] else 'FAIL'}</td><td>{html.escape(c['name'])}</td>"
        f"<td>{html.escape(c['detail'])}</td></tr>"
        for c in summary["checks"]
    )
    verdict = "passed" if summary["passed"] else "FAILED"
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>txc chaos: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>txc chaos run: {summary["workload"]} — {verdict}</h1>
<p>seed {summary["seed"]}, {summary["duration"]}s, {summary["clients"]} clients; replay with
<code>{html.escape(summary["replay"])}</code></p>
<img src="data:image/png;base64,{png}" alt="throughput and latency over time, fault windows shaded">
<h2>Checks</h2><table>{checks}</table>
<h2>Per fault kind</h2><table><tr><th>kind</th><th>injected</th><th>attempted</th><th>committed</th>
<th>rolled back</th><th>unknown</th><th>violations</th><th>stuck</th><th>recovery (s) after each</th></tr>{rows}</table>
<h2>Totals</h2><pre>{html.escape(json.dumps(summary["totals"], indent=2))}</pre>
<h2>Schedule</h2><pre>{html.escape(json.dumps(summary["schedule"], indent=1))}</pre>
</body></html>"""
    )
