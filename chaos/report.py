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


def _merged(windows: list[FaultWindow], horizon: float) -> list[tuple[float, float]]:
    """The windows as disjoint intervals, clipped to the run."""
    spans = sorted((w.start, min(w.end if w.end is not None else horizon, horizon)) for w in windows)
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _ok_rate(history: History, spans: list[tuple[float, float]]) -> float | None:
    """Successful operations per second that ended inside ``spans`` (None if they last no time)."""
    seconds = sum(end - start for start, end in spans)
    if seconds <= 0:
        return None
    ok = sum(1 for op in history.ops if op.outcome == "ok" and any(s <= op.end < e for s, e in spans))
    return round(ok / seconds, 2)


def availability(history: History, duration: float) -> dict[str, Any]:
    """Successful operations per second outside every fault window, and inside the windows of each kind (with
    their ratio to the rate outside): what a fault costs the clients while it lasts."""
    horizon = max([duration, *(op.end for op in history.ops)])
    faulted = _merged(history.faults, horizon)
    outside, cursor = [], 0.0
    for start, end in faulted:
        if start > cursor:
            outside.append((cursor, start))
        cursor = max(cursor, end)
    if horizon > cursor:
        outside.append((cursor, horizon))
    base = _ok_rate(history, outside)

    def versus(rate: float | None) -> float | None:
        return round(rate / base, 2) if rate is not None and base else None

    per_kind: dict[str, Any] = {}
    for kind in sorted({w.kind for w in history.faults}):
        rate = _ok_rate(history, _merged([w for w in history.faults if w.kind == kind], horizon))
        per_kind[kind] = {"ok_per_second": rate, "vs_outside": versus(rate)}
    per_window = []
    for w in history.faults:  # each window on its own: which target (a coordinator, a link to one) costs what
        rate = _ok_rate(history, _merged([w], horizon))
        target = w.plan.get("target", w.plan.get("link"))
        span = {"start": round(w.start, 2), "end": None if w.end is None else round(w.end, 2)}
        per_window.append({"kind": w.kind, "target": target, **span, "ok_per_second": rate, "vs_outside": versus(rate)})
    return {"ok_per_second_outside_faults": base, "per_kind": per_kind, "per_window": per_window}


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
    # whether the operations' gids are the coordinator's (TCC, sagas); bank-xa's are its transfers' own ids, and
    # its committed/rolled back verdict per transfer is the checker's (ledger entries), so the client's outcomes
    # are what the table shows for it
    tracked = any(str(op.args.get("gid")) in states for op in history.ops)
    rates = availability(history, options.duration)
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
            "committed": sum(states.get(str(op.args.get("gid"))) in DONE for op in ops) if tracked else None,
            "rolled_back": (
                sum(states.get(str(op.args.get("gid"))) in (*UNDONE, None) for op in ops) if tracked else None
            ),
            "client_ok": sum(op.outcome == "ok" for op in ops),
            "client_failed": sum(op.outcome == "failed" for op in ops),
            "unknown": sum(op.outcome == "unknown" for op in ops),
            "invariant_violations": sum(str(op.args.get("gid")) in offenders for op in ops),
            "stuck": (
                sum(states.get(str(op.args.get("gid"))) not in (*TERMINAL, None) for op in ops) if tracked else None
            ),
            **rates["per_kind"].get(kind, {}),
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
        "availability": rates,
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

    def cell(v: dict[str, Any], key: str) -> str:
        value = v.get(key, "")
        return "n/a" if value is None and key in v else html.escape(str(value))

    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{v.get('injected', 0)}</td><td>{v.get('attempted', '')}</td>"
        + "".join(
            f"<td>{cell(v, k)}</td>"
            for k in (
                "client_ok",
                "client_failed",
                "unknown",
                "committed",
                "rolled_back",
                "invariant_violations",
                "stuck",
                "ok_per_second",
                "vs_outside",
            )
        )
        + f"<td>{html.escape(str(v.get('recovery_seconds', v.get('not_applicable', ''))))}</td></tr>"
        for kind, v in summary["per_kind"].items()
    )
    outside = summary.get("availability", {}).get("ok_per_second_outside_faults")
    windows = "".join(
        f"<tr><td>{html.escape(w['kind'])}</td><td>{html.escape(str(w['target']))}</td><td>{w['start']}</td>"
        f"<td>{'' if w['end'] is None else w['end']}</td><td>{cell(w, 'ok_per_second')}</td>"
        f"<td>{cell(w, 'vs_outside')}</td></tr>"
        for w in summary.get("availability", {}).get("per_window", [])
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
<h2>Per fault kind</h2><p>operations overlapping the kind's windows: the client's view (ok / failed / unknown), and
where the workload's ids are the coordinator's, its committed / rolled back / stuck (n/a otherwise: the checks
judge each operation). ok/s: successful operations per second inside the kind's windows; outside every window:
{outside} ok/s.</p><table><tr><th>kind</th><th>injected</th><th>attempted</th><th>client ok</th>
<th>client failed</th><th>unknown</th><th>committed</th><th>rolled back</th><th>violations</th><th>stuck</th>
<th>ok/s</th><th>vs outside</th><th>recovery (s) after each</th></tr>{rows}</table>
<h2>Per fault window</h2><p>successful operations per second that ended inside each window, and the ratio to the
rate outside every window.</p><table><tr><th>kind</th><th>target</th><th>start (s)</th><th>end (s)</th><th>ok/s</th>
<th>vs outside</th></tr>{windows}</table>
<h2>Totals</h2><pre>{html.escape(json.dumps(summary["totals"], indent=2))}</pre>
<h2>Schedule</h2><pre>{html.escape(json.dumps(summary["schedule"], indent=1))}</pre>
</body></html>"""
    )
