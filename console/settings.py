"""What a console is told at start: where the coordinators are, the admin token, and what it may show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sdk.rpc import ClientSecurity


@dataclass(frozen=True)
class ConsoleSettings:
    coordinators: tuple[str, ...]  # the first one serves every call; each is shown with its health
    token: str | None = None  # the admin token: sent on admin calls, and what a person logs in with
    reads_open: bool = True  # pages readable without a login (a loopback listener, or --insecure)
    chaos_reports: Path | None = None  # a folder searched for chaos report.html files
    tracing_url: str | None = (
        None  # a tracing UI's link with "{trace_id}" in it, e.g. http://jaeger:16686/trace/{trace_id}
    )
    client_security: ClientSecurity = field(default_factory=ClientSecurity)
    page_size: int = 50
    # the warm-up of the callers' balancers (ServiceClient(warmup=...)), to show each endpoint's weight; 0: none
    warmup: float = 0.0
    # a loopback console answers only requests naming a loopback host: a page on another site that rebinds
    # its own name to 127.0.0.1 gets nothing from it (None: any host, for a console reachable by name)
    loopback_hosts_only: bool = False

    @property
    def coordinator(self) -> str:
        return self.coordinators[0]
