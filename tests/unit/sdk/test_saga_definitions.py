"""Saga YAML: the examples validate, every file of the invalid corpus gives exactly its expected message,
and the CLI reports them without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sdk.saga import RecoveryMode, SagaDefinitionError, load_saga, mermaid, parse_saga, render, validate_input
from sdk.saga.expressions import EvaluationError

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "sagas" / "invalid"
EXAMPLES = REPO / "examples" / "sagas"
INVALID = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_has_at_least_25_invalid_files_each_with_its_message() -> None:
    assert len(INVALID) >= 25
    for path in INVALID:
        assert path.with_suffix(".expected").read_text().strip(), path.name


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_saga_gives_exactly_the_expected_message(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    with pytest.raises(SagaDefinitionError) as caught:
        load_saga(path.name)
    assert str(caught.value) == path.with_suffix(".expected").read_text().rstrip("\n")


def test_validate_cli_prints_every_message_and_exits_2_without_a_traceback() -> None:
    names = [p.name for p in INVALID]
    done = subprocess.run(
        [sys.executable, "-m", "txc", "saga", "validate", *names],
        cwd=CORPUS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    expected = "".join(p.with_suffix(".expected").read_text() for p in INVALID)
    assert done.stderr == expected


def test_examples_validate_and_graph() -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert paths
    done = subprocess.run(
        [sys.executable, "-m", "txc", "saga", "validate", *map(str, paths)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    graph = subprocess.run(
        [sys.executable, "-m", "txc", "saga", "graph", str(EXAMPLES / "book_trip.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert graph.returncode == 0, graph.stderr
    assert "flowchart TD" in graph.stdout
    assert "flight --> hotel" in graph.stdout and "flight --> car" in graph.stdout
    assert "car --> payment" in graph.stdout


def test_a_step_without_after_follows_the_step_written_before_it() -> None:
    saga = load_saga(str(EXAMPLES / "book_trip.yaml"))
    assert [s.after for s in saga.steps] == [(), ("flight",), ("flight",), ("hotel", "car")]
    assert saga.ancestors("payment") == {"flight", "hotel", "car"}
    forward = load_saga(str(EXAMPLES / "order_fulfilment.yaml"))
    assert forward.step("ship").recovery is RecoveryMode.FORWARD and forward.step("ship").compensate is None
    assert forward.step("ship").after == ("charge",)


def test_expressions_keep_types_alone_and_render_text_inside_strings() -> None:
    scope = {"input": {"amount": 30, "user": "ann"}, "steps": {"flight": {"output": {"booking_id": "F1", "n": [1]}}}}
    template = {
        "amount": "${input.amount}",
        "label": "for ${input.user}: ${steps.flight.output.booking_id} ($$)",
        "first": "${steps.flight.output.n.0}",
        "fixed": 3,
    }
    assert render(template, scope) == {"amount": 30, "label": "for ann: F1 ($)", "first": 1, "fixed": 3}
    with pytest.raises(EvaluationError, match=r"input\.missing does not exist"):
        render("${input.missing}", scope)


def test_input_is_checked_against_the_declared_schema() -> None:
    saga = load_saga(str(EXAMPLES / "book_trip.yaml"))
    assert validate_input(saga.input_schema, {"user": "a", "city": "b", "nights": 1, "amount": 5}) == []
    assert validate_input(saga.input_schema, {"user": "a", "nights": 1, "amount": 0}) == [
        "input.city: required",
        "input.amount: must be >= 1, got 0",
    ]


def test_graph_with_states_marks_each_step() -> None:
    saga = parse_saga(
        "name: s\nversion: 1\nsteps:\n"
        "  - {id: a, action: x.a, compensate: x.b}\n  - {id: b, action: x.c, compensate: x.d}\n",
        "s.yaml",
    )
    text = mermaid(saga, {"a": "COMPENSATED", "b": "FAILED"})
    assert "a --> b" in text and "[COMPENSATED]" in text and "class b failed" in text
