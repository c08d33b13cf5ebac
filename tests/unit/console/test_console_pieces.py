"""The console's pure pieces: the DAG layout, the text it shows, the actions a state allows, chaos report paths."""

from __future__ import annotations

import json
from pathlib import Path

from console import dag, views
from console.chaos_reports import find_reports, report_file
from sdk._proto import coordinator_pb2 as pb
from sdk._proto import saga_pb2
from sdk.saga import parse_saga

DIAMOND = """
name: diamond
version: 1
steps:
  - {id: a, action: s.a, compensate: s.undo_a}
  - {id: b, action: s.b, compensate: s.undo_b, after: [a]}
  - {id: c, action: s.c, compensate: s.undo_c, after: [a]}
  - {id: d, action: s.d, compensate: s.undo_d, after: [b, c]}
"""


def test_a_diamond_is_laid_out_in_rows_by_depth_with_an_edge_per_dependency() -> None:
    drawing = dag.layout(dag.shapes_of_definition(parse_saga(DIAMOND).steps))
    rows = {b.step.id: b.y for b in drawing.boxes}
    assert rows["a"] < rows["b"] == rows["c"] < rows["d"]
    assert len({(b.x, b.y) for b in drawing.boxes}) == 4  # no two boxes on each other
    assert len(drawing.edges) == 4 and all(e.y1 < e.y2 for e in drawing.edges)  # each from above to below
    assert all(b.x + dag.NODE_WIDTH <= drawing.width and b.y + dag.NODE_HEIGHT <= drawing.height for b in drawing.boxes)


def test_an_instance_is_coloured_by_state_and_a_failed_step_is_marked_even_once_compensated() -> None:
    steps = [
        pb_step("a", "COMPENSATED", completion_order=1),
        pb_step("b", "COMPENSATED", error="declined", attempts=1),
        pb_step("c", "FAILED", error="boom", attempts=2),
        pb_step("d", "PENDING"),
    ]
    boxes = {b.step.id: b for b in dag.layout(dag.shapes_of_instance(steps)).boxes}
    assert {k: (b.fill, b.step.failed) for k, b in boxes.items()} == {
        "a": (dag.STATE_FILL["COMPENSATED"], False),
        "b": (dag.STATE_FILL["COMPENSATED"], True),
        "c": (dag.STATE_FILL["FAILED"], True),
        "d": (dag.STATE_FILL["PENDING"], False),
    }


def pb_step(
    step_id: str, state: str, *, error: str = "", attempts: int = 0, completion_order: int = 0
) -> saga_pb2.StepInfo:
    return saga_pb2.StepInfo(
        step_id=step_id,
        action="s.x",
        state=state,
        last_error=error,
        attempts=attempts,
        completion_order=completion_order,
    )


def test_a_cycle_or_an_unknown_dependency_still_draws() -> None:
    shapes = [dag.StepShape("a", "s.a", "", ("b",)), dag.StepShape("b", "s.b", "", ("a", "ghost"))]
    assert len(dag.layout(shapes).boxes) == 2


def test_shown_text_writes_out_control_and_direction_characters() -> None:
    assert views.visible("a\x00b\u202ec\u200fd\u05d0") == "a\\x00b\\u202ec\\u200fd\u05d0"  # Hebrew stays


def test_the_actions_follow_the_state() -> None:
    def detail(state: str, *branches: str) -> pb.TransactionDetail:
        return pb.TransactionDetail(
            transaction=pb.TransactionInfo(gid="g", state=state, mode="TCC"),
            branches=[pb.BranchInfo(branch_id=f"b{n}", state=s) for n, s in enumerate(branches)],
        )

    assert [a.name for a in views.actions_for(detail("BEGIN"))] == ["abort"]
    assert [a.name for a in views.actions_for(detail("COMMITTING"))] == ["retry"]
    assert views.actions_for(detail("COMMITTED")) == []
    failed = views.actions_for(detail("COMMIT_FAILED", "CONFIRMED", "REGISTERED"))
    assert [(a.name, a.branch, a.outcome) for a in failed] == [
        ("retry", "", ""),
        ("resolve", "b1", "confirmed"),
        ("resolve", "b1", "cancelled"),
    ]


def test_chaos_reports_are_found_with_their_verdict_and_nothing_outside_the_folder_is_served(tmp_path: Path) -> None:
    for name, passed in (("one", True), ("two", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.html").write_text("<p>r</p>")
        (tmp_path / name / "report.json").write_text(json.dumps({"passed": passed, "workload": "bank-tcc"}))
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "report.html").write_text("<p>r</p>")
    assert sorted((r.path, r.verdict) for r in find_reports(tmp_path)) == [
        ("one/report.html", "passed"),
        ("three/report.html", "unknown"),
        ("two/report.html", "FAILED"),
    ]
    assert report_file(tmp_path, "one/report.html") == (tmp_path / "one" / "report.html").resolve()
    outside = tmp_path.parent / "report.html"
    outside.write_text("secret")
    try:
        for sneaky in ("../report.html", str(outside), "one/report.json", "one/../../report.html", "one/\x00"):
            assert report_file(tmp_path, sneaky) is None, sneaky
    finally:
        outside.unlink()


def test_a_trace_links_to_the_tracing_ui_only_when_one_is_configured() -> None:
    assert views.trace_link("https://traces.example/t/{trace_id}", "ab/c?d") == "https://traces.example/t/ab%2Fc%3Fd"
    assert views.trace_link(None, "abc") == views.trace_link("https://x/{trace_id}", "") == ""


def test_a_saga_offers_retry_and_resolve_only_while_it_waits_for_a_person() -> None:
    def saga(state: str, *steps: tuple[str, str], waiting: str = "") -> saga_pb2.SagaDetail:
        events = [saga_pb2.SagaEvent(step_id=waiting, event="needs_person")] if waiting else []
        return saga_pb2.SagaDetail(
            gid="s", state=state, steps=[saga_pb2.StepInfo(step_id=i, state=s) for i, s in steps], events=events
        )

    def offered(detail: saga_pb2.SagaDetail) -> list[tuple[str, str, str]]:
        return [(a.name, a.branch, a.outcome) for a in views.saga_actions_for(detail)]

    assert offered(saga("RUNNING", ("a", "RUNNING"))) == []
    assert offered(saga("COMPENSATED", ("a", "COMPENSATED"))) == []
    # going forward: the step still running is the one a person completes, with an output
    assert offered(saga("FORWARD_FAILED", ("pay", "SUCCEEDED"), ("hotel", "RUNNING"), ("car", "PENDING"))) == [
        ("saga-retry", "", ""),
        ("saga-resolve", "hotel", "completed"),
    ]
    # compensating: the step its needs_person event names; without one, any step it may compensate
    stuck = (("flight", "SUCCEEDED"), ("hotel", "SUCCEEDED"), ("payment", "COMPENSATED"))
    assert offered(saga("COMPENSATION_FAILED", *stuck, waiting="hotel")) == [
        ("saga-retry", "", ""),
        ("saga-resolve", "hotel", "compensated"),
    ]
    assert [step for _, step, _ in offered(saga("COMPENSATION_FAILED", *stuck))] == ["", "flight", "hotel"]
    assert all(a.on_saga for a in views.saga_actions_for(saga("FORWARD_FAILED", ("h", "RUNNING"))))
