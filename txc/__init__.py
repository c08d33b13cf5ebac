"""txc package: the ``txc`` command, the one front door for people."""

from __future__ import annotations

import os

# txc's demo, bench and chaos start child processes while gRPC threads are busy (embedded PostgreSQL's pg_ctl
# runs as another user, so subprocess really forks), and gRPC's fork handlers then log "fork_posix.cc ... Other
# threads are currently calling into gRPC, skipping fork() handlers". No child of ours uses gRPC state across
# fork (each one execs), so the handlers are off. gRPC reads this when it is imported: it must precede
# ``import grpc``, which is why it lives in the package's __init__.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
