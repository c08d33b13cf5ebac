"""docs/barrier.md is enough to write the barrier in another language: its table is the one the Python barrier
installs (and the Node example creates), its decision table is what both ``decide`` functions answer, row by
row, and its signature scheme gives the page's own example and the same signature as sdk.branch_mac in the
Node example for arguments that test the canonical JSON (non-ASCII, astral, escapes, nesting, key order).
Runs examples/node/bank.js's exported functions with node (its npm dependency installed, as for the Node
participant's tests)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from sdk.barrier import barrier_ddl, decide
from sdk.branch_mac import BranchSigner

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "barrier.md").read_text()
NODE_DIR = ROOT / "examples" / "node"


def _node(script: str, data: Any) -> Any:
    """Run ``script`` with ``bank`` = examples/node/bank.js's exports and ``data`` parsed from stdin; its
    console.log'd JSON."""
    code = f"const bank = require('./bank.js'); const data = JSON.parse(require('fs').readFileSync(0)); {script}"
    done = subprocess.run(
        ["node", "-e", code], input=json.dumps(data), capture_output=True, text=True, timeout=60, cwd=NODE_DIR
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _sql(text: str) -> str:
    """SQL without comments and with whitespace collapsed."""
    text = re.sub(r"--[^\n]*", "", text)
    return re.sub(r"\s+", " ", text).replace("( ", "(").replace(" )", ")").strip().rstrip(";").strip()


def test_the_pages_table_is_the_one_the_python_barrier_installs_and_the_node_example_creates() -> None:
    block = re.search(r"## The table\s+```sql\n(.*?)```", PAGE, re.DOTALL)
    assert block is not None
    named = re.search(r"-- PostgreSQL \((\S+)\)", block.group(1))
    assert named is not None and (ROOT / named.group(1)).is_file(), f"the page names {named and named.group(1)}"
    mysql = re.search(r"MySQL/MariaDB: `(\S+)`", PAGE)
    assert mysql is not None and (ROOT / mysql.group(1)).is_file(), f"the page names {mysql and mysql.group(1)}"
    assert _sql(block.group(1)) == _sql(barrier_ddl("postgresql"))
    node_ddl = re.search(r"const BARRIER_DDL = `(.*?)`;", (NODE_DIR / "bank.js").read_text(), re.DOTALL)
    assert node_ddl is not None and _sql(node_ddl.group(1)) == _sql(block.group(1))


ANY = "\u2013"  # the page's dash: either
_TRY_ROW = {"absent": None, "applied": "try", "blocked": "blocked"}


def _page_rows() -> list[tuple[str, str, str, str, str, tuple[tuple[str, str], ...]]]:
    """(op, try, confirm, cancel, outcome, writes) of each row of the page's decision table."""
    section = PAGE.split("## The decision table", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] not in ("try", "confirm", "cancel"):
            continue
        op, try_slot, confirm, cancel, outcome, written = cells
        writes: list[tuple[str, str]] = []
        for part in written.split("+"):
            row = re.match(r"\s*(try|confirm|cancel) row(?: \(`(\w+)`\))?", part)
            if row is not None:
                writes.append((row.group(1), row.group(2) or row.group(1)))
        rows.append((op, try_slot, confirm, cancel, outcome.strip("*"), tuple(writes)))
    return rows


def test_the_pages_decision_table_is_what_the_python_and_the_node_barrier_decide() -> None:
    rows = _page_rows()
    assert len(rows) == 13, rows
    cases: list[tuple[str, dict[str, str], str, tuple[tuple[str, str], ...]]] = []
    for op, try_slot, confirm, cancel, outcome, writes in rows:
        slots = list(_TRY_ROW) if try_slot == "any" else [try_slot]
        confirms = ["yes", "no"] if confirm == ANY else [confirm]
        cancels = ["yes", "no"] if cancel == ANY else [cancel]
        for slot, has_confirm, has_cancel in itertools.product(slots, confirms, cancels):
            state: dict[str, str] = {}
            if _TRY_ROW[slot] is not None:
                state["try"] = _TRY_ROW[slot]  # type: ignore[assignment]
            if has_confirm == "yes":
                state["confirm"] = "confirm"
            if has_cancel == "yes":
                state["cancel"] = "cancel"
            cases.append((op, state, outcome, writes))
    python = [(decide(op, state).outcome.value, decide(op, state).writes) for op, state, _o, _w in cases]
    node = _node(
        "console.log(JSON.stringify(data.map(([op, rows]) => { const d = bank.decide(op, rows);"
        " return [d.outcome, d.writes]; })))",
        [[op, state] for op, state, _o, _w in cases],
    )
    for (op, state, outcome, writes), from_python, from_node in zip(cases, python, node, strict=True):
        assert from_python == (outcome, writes), (op, state)
        assert (from_node[0], tuple(tuple(w) for w in from_node[1])) == (outcome, writes), (op, state)


ARGS = [
    {"amount": 5, "account": "Bé"},
    {"z": [1, 2, {"y": "\U0001f600 astral"}], "a": '\x7f DEL, \n newline, "quote", \\ backslash, \x01'},
    {"nested": {"b": True, "a": None, "c": -3, "d": 0.5}, "": "empty key", "é": "non-ASCII key"},
    {"big": 2**53 - 1, "list": [], "obj": {}, "zero": 0},
]


def test_the_signature_scheme_gives_the_pages_example_and_the_same_signatures_in_python_and_node() -> None:
    example = re.search(r"print\(S\((b\"k\"\*20)\)\.sign\((.*?)\)\)'\n# ([0-9a-f]{64})", PAGE)
    assert example is not None, "the page's signature example"
    gid, branch, service, action, args = json.loads(f"[{example.group(2).replace(chr(39), chr(34))}]")
    key = b"k" * 20
    assert BranchSigner(key).sign(gid, branch, service, action, args) == example.group(3)
    # each case as JSON text, parsed by each side as a participant parses its HTTP body
    cases = [["g-1", "7", "bank-b", "credit.confirm", json.dumps(args)] for args in ARGS]
    from_node = _node(
        "const key = Buffer.from('k'.repeat(20));"
        "console.log(JSON.stringify(data.map(([g, b, s, a, body]) => bank.sign(key, g, b, s, a, JSON.parse(body)))))",
        cases,
    )
    from_python = [BranchSigner(key).sign(g, b, s, a, json.loads(body)) for g, b, s, a, body in cases]
    assert from_node == from_python
    assert len(set(from_python)) == len(ARGS)


def test_the_receipt_scheme_gives_the_pages_example_and_the_same_receipts_in_python_and_node() -> None:
    example = re.search(r"print\(S\((b\"k\"\*20)\)\.receipt\((.*?)\)\)'\n# ([0-9a-f]{64})", PAGE)
    assert example is not None, "the page's receipt example"
    gid, branch = json.loads(f"[{example.group(2).replace(chr(39), chr(34))}]")
    key = b"k" * 20
    assert BranchSigner(key).receipt(gid, branch) == example.group(3)
    cases = [["g-1", "7"], ["g-17", ""], ["gé \U0001f600", "call-0a1b"]]
    from_node = _node(
        "const key = Buffer.from('k'.repeat(20));"
        "console.log(JSON.stringify(data.map(([g, b]) => bank.receipt(key, g, b))))",
        cases,
    )
    assert from_node == [BranchSigner(key).receipt(g, b) for g, b in cases]
    assert len(set(from_node)) == len(cases)
