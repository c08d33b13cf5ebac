"""What every txcoord process uses to be seen from outside: a Prometheus metrics endpoint, gRPC metrics
interceptors, a participant metrics interceptor, JSON log lines, and OpenTelemetry tracing set up from ``OTEL_*``.
Each package defines its own metric families (``txcoord.metrics``, ``dbproxy.metrics``); this is the plumbing."""

from sdk.observability.json_logs import (
    LOG_FORMAT_ENV,
    LOG_FORMATS,
    JsonFormatter,
    current_branch,
    log_format,
    setup_logging,
)
from sdk.observability.metrics_http import MetricsEndpoint, enable_metrics, metrics_enabled, serve_metrics
from sdk.observability.participant_metrics import participant_metrics
from sdk.observability.rpc_metrics import client_interceptors, server_interceptors
from sdk.observability.tracing import setup_tracing, shutdown_tracing, tracing_enabled

__all__ = [
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "JsonFormatter",
    "MetricsEndpoint",
    "client_interceptors",
    "current_branch",
    "enable_metrics",
    "log_format",
    "metrics_enabled",
    "participant_metrics",
    "serve_metrics",
    "server_interceptors",
    "setup_logging",
    "setup_tracing",
    "shutdown_tracing",
    "tracing_enabled",
]
