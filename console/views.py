"""What the pages show, computed from the coordinator's replies: times, a transaction's timeline, the actions
its state allows, and text made safe to look at (control characters shown, not acted on)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sdk._proto import coordinator_pb2 as pb
from sdk._proto import saga_pb2

# control characters, and the invisible ones that reorder text (bidi overrides, isolates, marks): an operator
# must see them, since they can make one gid look like another
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SHORT = 300  # characters of a long text shown in a table cell; the rest behind a "more" toggle

FAILED_STATES = ("COMMIT_FAILED", "ROLLBACK_FAILED")
# a saga waiting for a person: its compensation, or a forward step, could not be delivered
SAGA_MARKED = ("COMPENSATION_FAILED", "FORWARD_FAILED")
# the step states a person may say they compensated by hand (the coordinator's rule)
SAGA_COMPENSABLE = ("RUNNING", "SUCCEEDED", "FAILED", "COMPENSATING")
PHASE2_STATES = ("COMMITTING", "ROLLING_BACK", *FAILED_STATES)


def visible(value: object) -> str:
    """Text with its control and direction characters (NUL, U+202E, ...) written out as ``\\xNN`` /
    ``\\uNNNN``; markup is escaped later, by the template."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ts else "-"


def age(ts: float, now: float) -> str:
    if not ts:
        return "-"
    seconds = max(now - ts, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def payload_text(data: bytes) -> str:
    if not data:
        return ""
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except ValueError:
        return data.decode("utf-8", "replace")


def trace_link(template: str | None, trace_id: str) -> str:
    """The tracing UI's page of ``trace_id`` ("" without a configured UI or a trace id)."""
    if not template or not trace_id:
        return ""
    return template.replace("{trace_id}", quote(trace_id, safe=""))


def branch_what(branch: pb.BranchInfo) -> str:
    """The action, or for an XA branch the backend and the xid a proxy prepared there."""
    if branch.kind != "XA":
        return branch.action
    try:
        payload = json.loads(branch.payload_json or b"{}")
        return f"backend {payload['backend']}, xid {payload['xid']}"
    except (ValueError, KeyError, TypeError):
        return branch.action


@dataclass(frozen=True)
class Moment:
    at: float
    what: str
    detail: str


def timeline(detail: pb.TransactionDetail) -> list[Moment]:
    """A transaction's life, oldest first: begin, branches, the decision, recorded events (failed attempts,
    admin actions with who did them), the end."""
    tx = detail.transaction
    items = [Moment(tx.created_at, "begin", f"timeout {tx.timeout_seconds:g}s")]
    for b in detail.branches:
        items.append(Moment(b.created_at, f"branch {b.branch_id} registered", f"{b.service}.{b.action}"))
        if b.finished_at:
            items.append(
                Moment(b.finished_at, f"branch {b.branch_id} {b.state.lower()}", f"after {b.attempts} failures")
            )
    if tx.decided_at:
        verb = "commit" if tx.state.startswith("COMMIT") else "rollback"
        items.append(Moment(tx.decided_at, f"decided: {verb}", tx.reason))
    for e in detail.events:
        items.append(Moment(e.at, e.event + (f" (branch {e.branch_id})" if e.branch_id else ""), e.detail))
    if tx.finished_at:
        items.append(Moment(tx.finished_at, f"finished: {tx.state}", ""))
    return sorted(items, key=lambda m: m.at)


@dataclass(frozen=True)
class Action:
    """One thing a person may do to a transaction, as its confirmation page and form need it."""

    name: str  # retry, abort, resolve; saga-retry, saga-resolve
    label: str
    branch: str = ""  # resolve: the branch; saga-resolve: the step
    outcome: str = ""  # resolve: confirmed / cancelled; saga-resolve: compensated / completed

    @property
    def on_saga(self) -> bool:
        return self.name.startswith("saga-")


LABELS = {
    "retry": "Retry phase 2 now",
    "abort": "Abort (roll back)",
    "resolve": "Resolve branch as {outcome}",
    "saga-retry": "Retry the saga now",
    "saga-resolve": "Resolve step as {outcome} by hand",
}
# what a resolve may say happened
OUTCOMES = {"resolve": ("confirmed", "cancelled"), "saga-resolve": ("compensated", "completed")}


def action(name: str, branch: str = "", outcome: str = "") -> Action:
    return Action(name, LABELS[name].format(outcome=outcome), branch, outcome)


def actions_for(detail: pb.TransactionDetail) -> list[Action]:
    """The admin actions the transaction's state allows (the coordinator checks again when one is asked)."""
    tx = detail.transaction
    if tx.mode == "SAGA":
        return []  # a saga is driven by its own rules; its admin actions are not the TCC ones
    found: list[Action] = []
    if tx.state == "BEGIN":
        found.append(action("abort"))
    if tx.state in PHASE2_STATES:
        found.append(action("retry"))
    if tx.state in FAILED_STATES:
        for b in detail.branches:
            if b.state == "REGISTERED":
                for outcome in ("confirmed", "cancelled"):
                    found.append(action("resolve", b.branch_id, outcome))
    return found


def saga_actions_for(detail: saga_pb2.SagaDetail) -> list[Action]:
    """What a person may do to a saga marked for one (`txc saga retry` / `txc saga resolve`): deliver again, or
    say a step was done by hand — compensated (the saga was compensating: the steps its needs_person events
    name, else any it may compensate), or completed with an output (going forward: the step still running)."""
    if detail.state not in SAGA_MARKED:
        return []
    found = [action("saga-retry")]
    if detail.state == "FORWARD_FAILED":
        return found + [action("saga-resolve", s.step_id, "completed") for s in detail.steps if s.state == "RUNNING"]
    compensable = [s.step_id for s in detail.steps if s.state in SAGA_COMPENSABLE]
    named = {e.step_id for e in detail.events if e.event == "needs_person"}
    waiting = [step for step in compensable if step in named] or compensable
    return found + [action("saga-resolve", step, "compensated") for step in waiting]
