"""The chaos report's availability (successful operations per second inside each fault kind's windows against the
rate outside every window) and its per-kind table: the coordinator's committed / rolled back / stuck counts where
the operations' ids are the coordinator's gids, n/a (None) where they are not (bank-xa), the client's outcomes in
both cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.history import FaultWindow, History, Op
from chaos.report import availability, summarize, write_html
from chaos.runner import RunOptions


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.jsonl")
    yield h
    h.close()


def _op(history: History, start: float, end: float, outcome: str, gid: str) -> None:
    history.ops.append(Op(len(history.ops), 0, start, end, outcome, {"gid": gid}))


def _fill(history: History) -> None:
    """30 s: outside the windows ([0, 10) and [20, 30)) 10 ok transfers and 2 failed ones; 3 ok and 1 unknown
    ending inside the kill-coordinator window [10, 15); 1 ok and 1 failed inside the pause window [15, 20)."""
    history.faults += [
        FaultWindow("kill-coordinator", 10.0, 15.0, {"target": "coord-1"}),
        FaultWindow("pause", 15.0, 20.0, {"target": "coord-2"}),
    ]
    for i in range(5):
        _op(history, i + 0.1, i + 0.5, "ok", f"a{i}")
        _op(history, 20 + i + 0.1, 20 + i + 0.5, "ok", f"b{i}")
    _op(history, 1.0, 1.2, "failed", "f0")
    _op(history, 25.0, 25.2, "failed", "f1")
    for i in range(3):
        _op(history, 10 + i + 0.1, 10 + i + 0.5, "ok", f"k{i}")
    _op(history, 14.0, 14.5, "unknown", "u0")
    _op(history, 16.0, 16.5, "ok", "p0")
    _op(history, 17.0, 17.5, "failed", "p1")


def test_availability_is_the_ok_rate_inside_each_kinds_windows_against_the_rate_outside(history: History) -> None:
    _fill(history)
    rates = availability(history, 30.0)
    assert rates["ok_per_second_outside_faults"] == 0.5  # 10 ok in 20 s; failed operations do not count
    assert rates["per_kind"] == {
        "kill-coordinator": {"ok_per_second": 0.6, "vs_outside": 1.2},  # 3 ok in 5 s
        "pause": {"ok_per_second": 0.2, "vs_outside": 0.4},  # 1 ok in 5 s
    }


def test_each_window_has_its_own_rate_and_names_its_target(history: History) -> None:
    _fill(history)
    history.faults += [  # a second kill-coordinator window, with nothing done in it, and a cut link
        FaultWindow("kill-coordinator", 30.0, 32.0, {"target": "coord-2"}),
        FaultWindow("net-blackhole", 32.0, 34.0, {"link": "proxy-1->coord-1"}),
    ]
    _op(history, 32.5, 33.0, "ok", "n0")
    _op(history, 33.0, 40.0, "ok", "end")  # the horizon: outside [34, 40) now, nothing ok ends inside it
    rates = availability(history, 30.0)
    assert rates["ok_per_second_outside_faults"] == 0.38  # still 10 ok, now in 26 s
    assert rates["per_window"] == [
        {"kind": "kill-coordinator", "target": "coord-1", "start": 10.0, "end": 15.0, "ok_per_second": 0.6,
         "vs_outside": 1.58},
        {"kind": "pause", "target": "coord-2", "start": 15.0, "end": 20.0, "ok_per_second": 0.2, "vs_outside": 0.53},
        {"kind": "kill-coordinator", "target": "coord-2", "start": 30.0, "end": 32.0, "ok_per_second": 0.0,
         "vs_outside": 0.0},
        {"kind": "net-blackhole", "target": "proxy-1->coord-1", "start": 32.0, "end": 34.0, "ok_per_second": 0.5,
         "vs_outside": 1.32},
    ]  # fmt: skip
    assert rates["per_kind"]["kill-coordinator"] == {"ok_per_second": 0.43, "vs_outside": 1.13}  # 3 ok in 7 s


def test_a_window_still_open_at_the_end_counts_until_the_last_operation(history: History) -> None:
    history.faults.append(FaultWindow("net-reset", 4.0, None, {}))
    for i in range(4):
        _op(history, i, i + 0.5, "ok", f"a{i}")
    _op(history, 5.0, 7.0, "ok", "late")  # ends past the run's nominal 6 s: the window lasts to the horizon,
    _op(history, 5.0, 7.5, "failed", "last")  # the last end
    rates = availability(history, 6.0)
    assert rates["ok_per_second_outside_faults"] == 1.0  # 4 ok in [0, 4)
    assert rates["per_kind"] == {"net-reset": {"ok_per_second": 0.29, "vs_outside": 0.29}}  # 1 ok in 3.5 s


def _summary(history: History, states: dict[str, str]) -> dict[str, Any]:
    options = RunOptions(workload="bank-xa", duration=30.0, faults=["kill-coordinator", "pause"])
    return summarize(options, history, [], [], states, {}, [], 0.0, {}, [])


def test_per_kind_counts_of_a_workload_whose_ids_are_not_the_coordinators_are_not_applicable(
    history: History,
) -> None:
    _fill(history)
    states = {"0190aa": "COMMITTED", "0190ab": "ROLLED_BACK"}  # the store's XA gids: none is a transfer's id
    row = _summary(history, states)["per_kind"]["kill-coordinator"]
    assert (row["committed"], row["rolled_back"], row["stuck"]) == (None, None, None)
    assert (row["attempted"], row["client_ok"], row["client_failed"], row["unknown"]) == (4, 3, 0, 1)
    assert (row["ok_per_second"], row["vs_outside"]) == (0.6, 1.2)
    pause = _summary(history, states)["per_kind"]["pause"]
    assert (pause["attempted"], pause["client_ok"], pause["client_failed"], pause["vs_outside"]) == (2, 1, 1, 0.4)


def test_per_kind_counts_of_a_workload_whose_ids_are_the_coordinators_come_from_its_states(
    history: History,
) -> None:
    _fill(history)
    states = {"k0": "COMMITTED", "k1": "COMMITTED", "k2": "ROLLED_BACK", "u0": "COMMITTING"}
    row = _summary(history, states)["per_kind"]["kill-coordinator"]
    assert (row["committed"], row["rolled_back"], row["stuck"]) == (2, 1, 1)
    assert (row["client_ok"], row["unknown"]) == (3, 1)


def test_the_html_report_shows_n_a_for_bank_xa_and_the_rate_of_each_window(history: History, tmp_path: Path) -> None:
    _fill(history)
    summary = _summary(history, {})
    write_html(tmp_path / "report.html", summary, history)
    page = (tmp_path / "report.html").read_text()
    kill = page.split("<tr><td>kill-coordinator</td>")[1].split("</tr>")[0]  # the per-kind row
    assert "<td>n/a</td>" in kill and "<td>0.6</td><td>1.2</td>" in kill, kill
    assert "<tr><td>pause</td><td>coord-2</td><td>15.0</td><td>20.0</td><td>0.2</td><td>0.4</td></tr>" in page
