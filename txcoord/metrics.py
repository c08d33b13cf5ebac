"""The coordinator's and registry's Prometheus metrics (families listed in docs/operations.md, "Metrics").

Off unless ``serve`` is called (``txc coordinator --metrics-listen``, ``txc registry --metrics-listen``): the hooks
in the store, the batchers and phase-2 delivery are module functions that return at once while ``_current`` is
None. Counters count what this process did; what the store holds (unfinished transactions by state, those
needing a person, the oldest one's age, whether the store answers, registry endpoints) is read on each scrape
by one query on a partial index, never per transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sdk.observability import MetricsEndpoint, serve_metrics
from txcoord.model import TxState

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SCRAPE_TIMEOUT = 2.0  # seconds a scrape waits for the store before it reports it unreachable
NEEDS_PERSON = (
    TxState.COMMIT_FAILED.value,
    TxState.ROLLBACK_FAILED.value,
    TxState.COMPENSATION_FAILED.value,
    TxState.FORWARD_FAILED.value,
)
OUTCOMES = {
    "COMMITTED": "committed",
    "ROLLED_BACK": "rolled_back",
    "SUCCEEDED": "succeeded",
    "COMPENSATED": "compensated",
}


class CoordinatorMetrics:
    """The families a coordinator updates as it works; label children are bound once and reused."""

    def __init__(self) -> None:
        self.started = Counter(
            "txc_transactions_started_total",
            "Global transactions begun through this coordinator, by mode (tcc, xa, saga)",
            ["mode"],
        )
        self.finished = Counter(
            "txc_transactions_finished_total",
            "Global transactions this coordinator brought to their end, by mode and outcome "
            "(committed, rolled_back; sagas: succeeded, compensated)",
            ["mode", "outcome"],
        )
        self.duration = Histogram(
            "txc_transaction_duration_seconds",
            "Time from a global transaction's begin to its end (phase 2 done), by mode",
            ["mode"],
            buckets=DURATION_BUCKETS,
        )
        self.phase2_calls = Counter(
            "txc_phase2_calls_total",
            "Phase-2 deliveries (confirm/cancel of one branch) by participant service, op and outcome "
            "(ok, failed: retried, refused: needs a person, unreachable: no endpoint or action)",
            ["service", "op", "outcome"],
        )
        self.phase2_retries = Counter(
            "txc_phase2_retries_total", "Phase-2 branch deliveries that failed and were scheduled again"
        )
        self.store_batch_seconds = Histogram(
            "txc_store_write_seconds",
            "Latency of one group-committed store write, by statement (register, decide, finish, saga_start, ...)",
            ["statement"],
            buckets=STORE_BUCKETS,
        )
        self.store_batch_size = Histogram(
            "txc_store_write_batch_size",
            "Requests written by one group-committed store statement, by statement",
            ["statement"],
            buckets=BATCH_BUCKETS,
        )
        self.saga_steps = Counter(
            "txc_saga_steps_total",
            "Saga step events recorded by this coordinator, by outcome (succeeded, retried, failed, compensated)",
            ["outcome"],
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, family: Any, *labels: str) -> Any:
        key = (family._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child


_current: CoordinatorMetrics | None = None


def enabled() -> bool:
    return _current is not None


def transaction_started(kind: str) -> None:
    if _current is not None:
        _current.child(_current.started, kind.lower()).inc()


def transaction_finished(kind: str, state: str, seconds: float | None) -> None:
    m = _current
    if m is None:
        return
    mode = kind.lower()
    m.child(m.finished, mode, OUTCOMES.get(state, state.lower())).inc()
    if seconds is not None:
        m.child(m.duration, mode).observe(seconds)


def phase2_delivered(service: str, op: str, outcome: str) -> None:
    if _current is not None:
        _current.child(_current.phase2_calls, service, op, outcome).inc()


def phase2_retry() -> None:
    if _current is not None:
        _current.phase2_retries.inc()


def store_written(statement: str, size: int, seconds: float) -> None:
    m = _current
    if m is not None:
        m.child(m.store_batch_seconds, statement).observe(seconds)
        m.child(m.store_batch_size, statement).observe(size)


def saga_step(outcome: str) -> None:
    if _current is not None:
        _current.child(_current.saga_steps, outcome).inc()


class StoreCollector(Collector):
    """Read on each scrape (from the exporter's thread, run on the server's event loop): unfinished
    transactions by state, those needing a person, the oldest one's age, and whether the store answered."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fetch: Callable[[], Coroutine[Any, Any, list[Any]]]) -> None:
        self.loop = loop
        self.fetch = fetch

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("txc_store_up", "1 if the coordinator store answered this scrape's query, else 0")
        try:
            rows: list[Any] = asyncio.run_coroutine_threadsafe(self.fetch(), self.loop).result(SCRAPE_TIMEOUT)
        except Exception as exc:  # unreachable, timed out, or the loop is closing
            log.debug("metrics: the store did not answer the scrape: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_state = {r["state"]: (int(r["n"]), float(r["oldest_s"] or 0.0)) for r in rows}
        unfinished = GaugeMetricFamily(
            "txc_transactions_unfinished", "Global transactions not yet at their end, by state", labels=["state"]
        )
        for state in TxState:
            if state.value not in OUTCOMES:
                unfinished.add_metric([state.value], by_state.get(state.value, (0, 0.0))[0])
        yield unfinished
        yield GaugeMetricFamily(
            "txc_transactions_needing_person",
            "Transactions and sagas waiting for a person (COMMIT_FAILED, ROLLBACK_FAILED, COMPENSATION_FAILED, "
            "FORWARD_FAILED)",
            value=sum(by_state.get(s, (0, 0.0))[0] for s in NEEDS_PERSON),
        )
        yield GaugeMetricFamily(
            "txc_oldest_unfinished_transaction_age_seconds",
            "Age of the oldest global transaction not yet at its end (0 when there is none)",
            value=max((oldest for _n, oldest in by_state.values()), default=0.0),
        )


class RegistryCollector(Collector):
    """Registry endpoints per service, read from the registry store on each scrape."""

    def __init__(self, loop: asyncio.AbstractEventLoop, list_all: Callable[[], Coroutine[Any, Any, list[Any]]]) -> None:
        self.loop = loop
        self.list_all = list_all

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "txc_registry_endpoints", "Live endpoints registered per service", labels=["service"]
        )
        try:
            endpoints: list[Any] = asyncio.run_coroutine_threadsafe(self.list_all(), self.loop).result(SCRAPE_TIMEOUT)
        except Exception as exc:
            log.debug("metrics: the registry store did not answer the scrape: %s", exc)
            return
        counts: dict[str, int] = {}
        for endpoint in endpoints:
            counts[endpoint.service] = counts.get(endpoint.service, 0) + 1
        for service, n in sorted(counts.items()):
            family.add_metric([service], n)
        yield family


def serve(listen: str) -> MetricsEndpoint:
    """Turn the coordinator's metrics on and serve them on ``listen`` (HOST:PORT). Call it before the gRPC server
    is made (its interceptors are installed only when metrics are on)."""
    global _current
    endpoint = serve_metrics(listen, field="--metrics-listen")
    if _current is None:
        _current = CoordinatorMetrics()
    return endpoint


def watch(
    *,
    store_query: Callable[[], Coroutine[Any, Any, list[Any]]] | None = None,
    registry_list: Callable[[], Coroutine[Any, Any, list[Any]]] | None = None,
) -> Callable[[], None]:
    """Read the store (``store_query``: rows of state, n, oldest_s) and the registry on each scrape, on the running
    event loop. Returns the function that stops it."""
    loop = asyncio.get_running_loop()
    collectors: list[Collector] = []
    if store_query is not None:
        collectors.append(StoreCollector(loop, store_query))
    if registry_list is not None:
        collectors.append(RegistryCollector(loop, registry_list))
    for collector in collectors:
        REGISTRY.register(collector)

    def stop() -> None:
        for collector in collectors:
            REGISTRY.unregister(collector)

    return stop


def registered(items: Sequence[tuple[Any, ...]], rows: Sequence[Any]) -> None:
    """Count the transactions a batch of branch registrations began (rows: ord, state, began; items: gid first,
    kind seventh). A gid registered twice in one batch began once."""
    if _current is None:
        return
    seen: set[str] = set()
    for r in rows:
        if r["began"] and r["state"] == "BEGIN":
            gid, kind = items[r["ord"] - 1][0], items[r["ord"] - 1][6]
            if gid not in seen:
                seen.add(gid)
                transaction_started(kind)


class ObservedDelivery:
    """Phase-2 delivery counted by service, op and outcome (wraps the engine's ``Delivery``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def deliver(self, branch: Any, op: Any) -> None:
        from txcoord.tcc.phase2 import refusal, unreachable  # the engine's own reading of a failure

        try:
            await self.inner.deliver(branch, op)
        except Exception as exc:
            outcome = "refused" if refusal(exc) else "unreachable" if unreachable(exc) else "failed"
            phase2_delivered(branch.service, str(op), outcome)
            raise
        phase2_delivered(branch.service, str(op), "ok")


def observed_delivery(delivery: Any) -> Any:
    """``delivery`` counted when metrics are on, else ``delivery`` itself."""
    return delivery if _current is None else ObservedDelivery(delivery)


def saga_step_succeeded() -> None:
    """A step's success was recorded (the saga's own success is counted where it is written)."""
    saga_step("succeeded")
