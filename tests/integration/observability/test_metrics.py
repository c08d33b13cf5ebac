"""Metrics of a real run: every server scraped after a known workload shows exactly what happened, and no label
value is a gid, SQL text or a payload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.observability.conftest import COMMITTED, ROLLED_BACK, XA_TRANSFERS
from tests.integration.observability.rig import ObservedSystem
from tests.integration.observability.scrape import Sample, value, values

pytestmark = pytest.mark.slow


def test_counters_of_every_server_equal_what_happened(workload: dict[str, list[Sample]]) -> None:
    coordinator = workload["coordinator"]
    finished = "txc_transactions_finished_total"
    assert value(coordinator, finished, mode="tcc", outcome="committed") == COMMITTED
    assert value(coordinator, finished, mode="tcc", outcome="rolled_back") == ROLLED_BACK
    assert value(coordinator, finished, mode="xa", outcome="committed") == XA_TRANSFERS
    assert value(coordinator, "txc_transactions_started_total", mode="tcc") == COMMITTED + ROLLED_BACK
    assert value(coordinator, "txc_transactions_started_total", mode="xa") == XA_TRANSFERS
    assert value(coordinator, "txc_transaction_duration_seconds_count", mode="tcc") == COMMITTED + ROLLED_BACK
    calls = "txc_phase2_calls_total"
    assert value(coordinator, calls, service="bank-a", op="confirm", outcome="ok") == COMMITTED
    assert value(coordinator, calls, service="bank-b", op="confirm", outcome="ok") == COMMITTED
    assert value(coordinator, calls, service="bank-a", op="cancel", outcome="ok") == ROLLED_BACK
    # every delivery that did not succeed was scheduled again (none, unless the machine was slow enough for a
    # deadline): the two families count the same events from two places
    not_ok = sum(v for k, v in values(coordinator, calls, "outcome").items() if k != "ok")
    assert value(coordinator, "txc_phase2_retries_total") == not_ok
    assert value(coordinator, "txc_transactions_needing_person") == 0
    assert value(coordinator, "txc_transactions_unfinished") == 0
    assert value(coordinator, "txc_store_up") == 1
    # the TCC transactions' phase-2 ends; the proxy's XA transactions are recorded by its batched reports instead
    assert value(coordinator, "txc_store_write_batch_size_sum", statement="finish") == COMMITTED + ROLLED_BACK
    served = "txc_rpc_server_duration_seconds_count"
    assert value(coordinator, served, rpc_service="txcoord.coordinator.v1.Coordinator") > 0

    bank_a, bank_b = workload["bank-a"], workload["bank-b"]
    participant = "txc_participant_calls_total"
    assert value(bank_a, participant, action="debit", op="try", outcome="applied") == COMMITTED
    assert value(bank_a, participant, action="debit", op="try", outcome="error") == ROLLED_BACK
    assert value(bank_a, participant, action="debit", op="confirm", outcome="applied") == COMMITTED
    assert value(bank_a, participant, action="debit", op="cancel", outcome="empty_cancel") == ROLLED_BACK
    assert value(bank_b, participant, action="credit", op="try", outcome="applied") == COMMITTED
    assert value(bank_b, participant, action="credit", op="confirm", outcome="applied") == COMMITTED
    assert value(bank_a, served, rpc_service="bank-a", rpc_method="debit", code="OK") == COMMITTED
    assert value(bank_a, served, rpc_service="bank-a", rpc_method="debit", code="FAILED_PRECONDITION") == ROLLED_BACK

    registry = workload["registry"]
    endpoints = values(registry, "txc_registry_endpoints", "service")
    assert endpoints == {"bank-a": 1, "bank-b": 1, workload["dbproxy"] and _proxy_service(workload): 1}
    assert value(registry, served, rpc_service="txcoord.registry.v1.Registry", rpc_method="Register", code="OK") == 3

    proxy = workload["dbproxy"]
    assert value(proxy, "dbproxy_commits_total", kind="xa", outcome="ok") == XA_TRANSFERS
    assert value(proxy, "dbproxy_statements_total", route="single", outcome="ok") == 2 * XA_TRANSFERS
    assert value(proxy, "dbproxy_statements_total", route="transaction", outcome="ok") == 2 * XA_TRANSFERS
    assert value(proxy, "dbproxy_errors_total") == 1
    before = value(workload["proxy connections before"], "dbproxy_connections_total")
    assert value(proxy, "dbproxy_connections_total") == before + 1
    assert value(proxy, "dbproxy_backend_connections", state="open") >= 2
    # its calls to the registry, one interceptor for every call kind (its long-lived session stream is counted
    # when it ends: tests/integration/rpc/test_client_metrics.py counts a stream call)
    registered = value(proxy, "txc_rpc_client_duration_seconds_count", rpc_method="Register", code="OK")
    assert registered == 1, [s for s in proxy if s.name == "txc_rpc_client_duration_seconds_count"]
    # ... and nothing else: the XA commits made no unary call to a coordinator (#19: decided in a backend, their
    # reports batched on the session stream, the one streaming method)
    called = {
        (s.labels["rpc_service"], s.labels["rpc_method"])
        for s in proxy
        if s.name == "txc_rpc_client_duration_seconds_count" and s.value > 0
    }
    assert called <= {("txcoord.registry.v1.Registry", "Register"), ("txcoord.coordinator.v1.Coordinator", "Session")}
    assert ("txcoord.registry.v1.Registry", "Register") in called


def _proxy_service(workload: dict[str, list[Sample]]) -> str:
    services = values(workload["registry"], "txc_registry_endpoints", "service")
    return next(name for name in services if name.startswith("proxy-"))


# SQL text has spaces; the workload's tables, columns and payload keys must not show up either
SQL = re.compile(r"\s|\bacct\b|balance|mysql\.user|account|amount", re.IGNORECASE)


def test_no_gid_sql_or_payload_is_a_label_value(
    observed_system: ObservedSystem, workload: dict[str, list[Sample]]
) -> None:
    gids: list[str] = observed_system.gids  # type: ignore[attr-defined]
    label_values = {
        (name, key, v) for name, samples in workload.items() for s in samples for key, v in s.labels.items()
    }
    assert len(label_values) > 100  # the walk saw the families of all five servers
    offending = [
        entry
        for entry in label_values
        if any(gid in entry[2] for gid in gids) or SQL.search(entry[2]) or "{" in entry[2] or '"' in entry[2]
    ]
    assert offending == []


def test_docs_list_every_exported_family(workload: dict[str, list[Sample]]) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    suffixes = ("_bucket", "_count", "_sum", "_created")  # a histogram's or counter's series, not families
    exported = {s.name for samples in workload.values() for s in samples if s.name.startswith(("txc_", "dbproxy_"))}
    families = {next((name[: -len(x)] for x in suffixes if name.endswith(x)), name) for name in exported}
    assert len(families) > 20
    missing = sorted(f for f in families if f"`{f}`" not in docs and f"`{f}_total`" not in docs)
    assert missing == []
