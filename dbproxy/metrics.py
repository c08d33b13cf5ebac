"""The proxy's Prometheus metric families (``metrics: {listen: HOST:PORT}`` in its config; listed in
docs/operations.md, "Metrics"), on prometheus-client directly.

Off unless configured (``dbproxy.metrics_http``): then sessions run the observed executor and channel
(``dbproxy.executor.observed``), the committer is wrapped in :class:`ObservedCommitter`, and pools and sessions are
read on each scrape. Label values are names the proxy defines (routes, commit kinds, backend
names from its config, MySQL error numbers), never SQL text."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dbproxy.xa.transactions import BackendBranch, Committer

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class _RouteCounts:
    """One route's statements: by outcome, per latency bucket (not cumulative), and their seconds."""

    __slots__ = ("buckets", "error", "ok", "seconds")

    def __init__(self, buckets: int) -> None:
        self.ok = 0
        self.error = 0
        self.buckets = [0] * buckets
        self.seconds = 0.0


class StatementStats(Collector):
    """``dbproxy_statements_total`` and ``dbproxy_statement_duration_seconds``: plain counts the event loop bumps
    once per statement, turned into the two families on each scrape. A prometheus-client child's ``inc`` and
    ``observe`` take a lock each and cost about 3 us a statement, 7 % of a point select's."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = buckets
        self._les = [floatToGoString(b) for b in buckets] + ["+Inf"]
        self._routes: dict[str, _RouteCounts] = {}

    def record(self, route: str, outcome: str, seconds: float) -> None:
        counts = self._routes.get(route)
        if counts is None:
            counts = self._routes[route] = _RouteCounts(len(self._bounds) + 1)
        if outcome == "ok":
            counts.ok += 1
        else:
            counts.error += 1
        counts.buckets[bisect_left(self._bounds, seconds)] += 1  # the first bound >= seconds: Prometheus's le
        counts.seconds += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        statements = CounterMetricFamily(
            "dbproxy_statements",
            "Statements run, by route (single: one backend, scatter: several chosen by the shard key, broadcast: "
            "every backend, local: answered by the proxy, transaction: BEGIN/COMMIT/ROLLBACK, session: SET/USE) "
            "and outcome (ok, error)",
            labels=["route", "outcome"],
        )
        routes = list(self._routes.items())  # the event loop may add a route meanwhile
        for route, counts in routes:
            for outcome, n in (("ok", counts.ok), ("error", counts.error)):
                if n:
                    statements.add_metric([route, outcome], n)
        yield statements
        latency = HistogramMetricFamily(
            "dbproxy_statement_duration_seconds",
            "Time from a statement's arrival to its answer, by route",
            labels=["route"],
        )
        for route, counts in routes:
            cumulative = list(accumulate(list(counts.buckets)))  # a copy first: the event loop keeps counting
            latency.add_metric([route], list(zip(self._les, cumulative, strict=True)), counts.seconds)
        yield latency


class ProxyMetrics:
    def __init__(self) -> None:
        self.connections = Counter("dbproxy_connections_total", "Client connections accepted (logged in or not)")
        self.statements = StatementStats()
        REGISTRY.register(self.statements)
        self.refusals = Counter(
            "dbproxy_errors_total",
            "MySQL errors sent to clients, by error number (1235: not supported, 1044/1142: denied, "
            "1213: deadlock, 1180: commit failed, ...)",
            ["code"],
        )
        self.commits = Counter(
            "dbproxy_commits_total",
            "Client COMMITs by kind (local: one backend, best_effort: several without a coordinator, one_phase: "
            "XA ONE PHASE, xa: two-phase through the coordinator) and outcome (ok, error)",
            ["kind", "outcome"],
        )
        self.recovered = Counter(
            "dbproxy_xa_branches_recovered_total",
            "XA branches left prepared (by a crash) that recovery finished, by decision (commit, rollback)",
            ["decision"],
        )
        self.prepared = Gauge(
            "dbproxy_xa_branches_prepared",
            "XA branches of this proxy's service found prepared and still undecided by the last recovery scan",
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, family: Any, *labels: str) -> Any:
        key = (family._name, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = family.labels(*labels)
        return found


_current: ProxyMetrics | None = None


def enable() -> ProxyMetrics:
    """Turn the proxy's metrics on (idempotent)."""
    global _current
    if _current is None:
        _current = ProxyMetrics()
    return _current


def current() -> ProxyMetrics | None:
    return _current


def commit_kind(committer: Committer, gid: str | None, branches: list[BackendBranch]) -> str:
    """How ``committer`` will commit ``branches`` (the same reading as XaCommitter.commit's)."""
    if not committer.xa:
        return "local" if len(branches) <= 1 else "best_effort"
    if all(b.xid is None for b in branches):
        return "local"
    written = [b for b in branches if b.wrote and b.xid is not None]
    if gid is None or len(written) <= 1 or any(b.xid is None for b in branches):
        return "one_phase"
    return "xa"


class ObservedCommitter:
    """A committer whose commits are counted by kind and outcome."""

    def __init__(self, inner: Committer, metrics: ProxyMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.xa = inner.xa
        self.service = inner.service

    def new_gid(self) -> str:
        return self.inner.new_gid()

    async def commit(self, gid: str | None, branches: list[BackendBranch]) -> None:
        kind = commit_kind(self.inner, gid, branches)
        m = self.metrics
        try:
            await self.inner.commit(gid, branches)
        except BaseException:
            m.child(m.commits, kind, "error").inc()
            raise
        m.child(m.commits, kind, "ok").inc()

    async def rollback(self, branches: list[BackendBranch]) -> None:
        await self.inner.rollback(branches)


def xa_recovered(commit: bool) -> None:
    if _current is not None:
        _current.child(_current.recovered, "commit" if commit else "rollback").inc()


def xa_scanned(undecided: int) -> None:
    if _current is not None:
        _current.prepared.set(undecided)
