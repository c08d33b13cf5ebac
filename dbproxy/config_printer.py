"""The routing table a configuration describes, as text (`dbproxy --check-config`)."""

from __future__ import annotations

from dbproxy.config import ProxyConfig, UserSpec


def routing_table(config: ProxyConfig) -> str:
    lines = [f"listen {config.listen}", "backends:"]
    for name in sorted(config.backends):
        lines.append(f"  {name}: {config.backend_dsn(name)}")
    for name, db in config.databases.items():
        default = config.backend_dsn(db.default_backend).database
        lines.append(f"database {name}: unsharded tables on {db.default_backend} ({default})")
        for table, rule in db.sharded_tables.items():
            extra = f" boundaries {rule.boundaries}" if rule.boundaries else ""
            auto = ", auto_increment" if rule.auto_increment else ""
            lines.append(f"  {table}: {rule.algorithm}({rule.column}){extra}{auto}")
            for i, node in enumerate(rule.nodes):
                lines.append(f"    shard {i} -> {node.backend}.{node.table}")
        for table in db.broadcast_tables:
            lines.append(f"  {table}: broadcast to every backend of {name}")
    lines.append("users:")
    for user, spec in config.users.items():
        if isinstance(spec, UserSpec) and spec.databases is not None:
            grants = ", ".join(f"{d} ({m.replace('_', '-')})" for d, m in spec.databases.items()) or "nothing"
        else:
            grants = "every logical database (read-write)"
        tls = ", TLS required" if isinstance(spec, UserSpec) and spec.require_tls else ""
        lines.append(f"  {user}: {grants}{tls}")
    return "\n".join(lines)
