"""The dependency direction of docs/design.md ("Layout and dependency direction"), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The top-level folders that hold Python code; tests/unit/test_packaging.py checks what each installs as.
OURS = {"sdk", "demo", "examples", "txcoord", "dbproxy", "chaos", "bench", "txc", "sql", "console"}
ALLOWED = {
    "sdk": set(),
    "sql": set(),  # the alembic environment: SQL only, found by txcoord.store.migrations as txcoord.schema
    "txcoord": {"sdk"},
    "dbproxy": {"sdk"},
    "demo": {"sdk"},  # user code: see test_user_code_uses_only_the_public_sdk
    "examples": {"sdk"},
    # the harnesses may use everything but the command line (they share sdk/processes.py with it)
    "bench": {"sdk", "txcoord", "dbproxy", "demo"},
    "chaos": {"sdk", "txcoord", "dbproxy", "demo"},
    "console": {"sdk"},  # the web console: a user of the coordinator's admin gRPC API, like any client
    "txc": {"sdk", "txcoord", "dbproxy", "demo", "bench", "chaos", "console"},  # the front door: it mounts them
}


def test_every_folder_of_ours_has_its_rule() -> None:
    folders = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert folders == OURS == set(ALLOWED)


def imported_packages(package: str) -> dict[str, set[str]]:
    """Our top-level packages each module of ``package`` imports, by module path."""
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        if "_proto" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = (names & OURS) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_design_allows(package: str) -> None:
    offending = {
        module: sorted(used - ALLOWED[package])
        for module, used in imported_packages(package).items()
        if used - ALLOWED[package]
    }
    assert offending == {}, f"{package} must not import these: {offending}"


# sdk submodules user code still needs, each with why (make it public, then drop it here)
USER_CODE_PRIVATE_IMPORTS: set[str] = set()


def test_user_code_uses_only_the_public_sdk() -> None:
    """The demo and the examples are what users copy: they import ``sdk`` itself, never one of its submodules."""
    private = {}
    for path in [*(REPO / "demo").rglob("*.py"), *(REPO / "examples").rglob("*.py")]:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            private.update({f"{path.name}: {m}": m for m in modules if m.startswith("sdk.")})
    assert set(private) == USER_CODE_PRIVATE_IMPORTS, f"user code must import only the top-level sdk: {sorted(private)}"


def test_nothing_imports_the_command_line() -> None:
    """``txc`` is the edge: bench and chaos once imported it while it mounted them, an arrow both ways."""
    users = {p: sorted(used & {"txc"}) for pkg in OURS - {"txc"} for p, used in imported_packages(pkg).items()}
    assert {p: u for p, u in users.items() if u} == {}


def test_processes_are_started_by_the_one_harness() -> None:
    """Child processes go through sdk/processes.py (start, wait ready, stop, SIGKILL, logs), not raw Popen. The
    chaos harness's database servers are the exception: it runs them as another user, with their own init."""
    popen = sorted(
        str(path.relative_to(REPO))
        for package in OURS
        for path in (REPO / package).rglob("*.py")
        if "subprocess.Popen(" in path.read_text()
    )
    assert popen == ["chaos/servers.py", "sdk/processes.py"]


# Inside dbproxy, each module may import only modules of its own layer or below (TYPE_CHECKING imports count
# too: a back-reference "only for annotations" is still a circle). Lowest first.
DBPROXY_LAYERS: list[tuple[str, ...]] = [
    (
        "dbproxy.errors",
        "dbproxy.protocol",
        "dbproxy.yaml_limits",
        "dbproxy.config",
        "dbproxy.config_printer",
        "dbproxy.collations",
        "dbproxy.collation_tables",
        "dbproxy.executor.affinity",
    ),
    ("dbproxy.tracing", "dbproxy.logs"),  # OpenTelemetry and log format: below every module that traces or logs
    ("dbproxy.router", "dbproxy.merge", "dbproxy.grants"),  # statement analysis: tokens, conditions, rewrites
    ("dbproxy.backends", "dbproxy.executor.keys"),  # connections to the backend servers and their pools
    ("dbproxy.xa", "dbproxy.xa.statements", "dbproxy.xa.decisions", "dbproxy.xa.transactions"),
    ("dbproxy.metrics",),  # the metric families, updated from the layers above
    ("dbproxy.executor.state", "dbproxy.xa.commit", "dbproxy.xa.recovery", "dbproxy.xa.reporter"),
    ("dbproxy.executor.context",),
    ("dbproxy.executor.channel",),
    ("dbproxy.executor.runner",),  # what plans execute against: the session's connections, state and channel
    ("dbproxy.executor.plans.base",),
    ("dbproxy.executor.plans",),  # one class per plan shape, each executing itself
    ("dbproxy.executor.statements", "dbproxy.executor.observed", "dbproxy.executor"),
    ("dbproxy.planner", "dbproxy.plan_cache"),  # builds the executor's plans: above the executor
    ("dbproxy.frontend.auth", "dbproxy.frontend.handshake", "dbproxy.frontend.session"),
    ("dbproxy.frontend.server", "dbproxy.metrics_http"),
    ("dbproxy.xa.coordination",),  # the one module that uses sdk: registration, the XA reports to the coordinator
    ("dbproxy.main", "dbproxy"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest matching prefix decides
    for i, layer in enumerate(DBPROXY_LAYERS):
        for prefix in layer:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), i)
    assert best is not None, f"{module} is in no layer of DBPROXY_LAYERS: add it"
    return best[1]


def dbproxy_imports(package: str = "dbproxy") -> dict[str, set[str]]:
    """module of ``package`` -> the modules of ``package`` it imports (every import statement, wherever it is)."""
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.split(".")[0] == package}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(package):
                names.add(str(node.module))
        found[_module_name(path)] = names
    return found


def test_dbproxy_modules_import_only_their_layer_or_below() -> None:
    upward = {
        module: sorted(i for i in imports if _layer_of(i) > _layer_of(module))
        for module, imports in dbproxy_imports().items()
        if module != "dbproxy"  # the package front door re-exports the public API from every layer
    }
    assert {m: i for m, i in upward.items() if i} == {}


def test_dbproxy_has_no_import_cycles() -> None:
    imports = dbproxy_imports()
    graph = {m: {i for i in deps if i in imports} for m, deps in imports.items()}
    graph.pop("dbproxy", None)
    for deps in graph.values():
        deps.discard("dbproxy")
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_session_code_has_no_back_references() -> None:
    """The executor and the session's state never reach the server or the session: they get the context."""
    imports = dbproxy_imports()
    executor = [m for m in imports if m.startswith("dbproxy.executor")]
    for module in (*executor, "dbproxy.frontend.handshake"):
        assert not {i for i in imports[module] if i.startswith("dbproxy.frontend.s")}, module


# sdk modules every part of dbproxy may use: plain code shared by every process, no client or server in them
# (the OTLP span exporter and the span records: dbproxy/tracing.py, only when tracing is on)
DBPROXY_SHARED_FROM_SDK = {
    "sdk.errors",
    "sdk.failpoints",
    "sdk.observability.otlp_export",
    "sdk.observability.span_records",
}


def sdk_modules_imported(path: Path) -> set[str]:
    """The sdk modules a file imports (``from sdk import errors`` counts as ``sdk.errors``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sdk"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "sdk":
            found |= {f"sdk.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sdk."):
            found.add(str(node.module))
    return found


def test_only_the_coordination_adapter_of_dbproxy_imports_sdk() -> None:
    """docs/design.md: one adapter module in dbproxy talks to the coordinator; the rest of the proxy uses only the
    sdk's shared plain modules (the error hierarchy with ``describe``, the failpoint switch, the OTLP span exporter and
    span records), no client or server."""
    users = sorted(module for module, used in imported_packages("dbproxy").items() if "sdk" in used)
    beyond_shared = {
        module: sorted(sdk_modules_imported(REPO / module) - DBPROXY_SHARED_FROM_SDK)
        for module in users
        if sdk_modules_imported(REPO / module) - DBPROXY_SHARED_FROM_SDK
    }
    assert list(beyond_shared) == ["dbproxy/xa/coordination.py"]


def test_the_executor_does_not_import_what_builds_on_it() -> None:
    """Arrows go one way between the executor package and the rest of dbproxy: no new back-arrow appears."""
    imports = dbproxy_imports()
    in_executor = {m for m in imports if m.startswith("dbproxy.executor")}
    users = {m for m, deps in imports.items() if m not in in_executor and deps & in_executor} - {"dbproxy"}
    back = {(m, d) for m in in_executor for d in imports[m] if d in users}
    assert back == set()


# docs/design.md ("The coordinator's folders"): the two transaction modes stand side by side on what they share.
TXCOORD_MODES = ("txcoord.tcc", "txcoord.saga")
TXCOORD_SHARED = "txcoord.engine"  # the lease loop, the gids driven here, the Store protocol, retry, signing, answers
TXCOORD_BELOW_THE_ENGINE = ("txcoord.model", "txcoord.errors", "txcoord.store", "txcoord.sql_queries")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_txcoord_modes_share_the_engine_and_never_import_each_other() -> None:
    imports = dbproxy_imports("txcoord")
    crossing = {
        (module, used)
        for module, deps in imports.items()
        for used in deps
        for mine in TXCOORD_MODES
        for other in TXCOORD_MODES
        if mine != other and _within(module, mine) and _within(used, other)
    }
    assert crossing == set(), "TCC and sagas meet only in txcoord.engine"
    upward = {
        (module, used)
        for module, deps in imports.items()
        if _within(module, TXCOORD_SHARED) or any(_within(module, low) for low in TXCOORD_BELOW_THE_ENGINE)
        for used in deps
        if any(_within(used, mode) for mode in TXCOORD_MODES)
    }
    assert upward == set(), "what the modes share must not import a mode"
    below = {
        (module, used)
        for module, deps in imports.items()
        if any(_within(module, low) for low in TXCOORD_BELOW_THE_ENGINE)
        for used in deps
        if _within(used, TXCOORD_SHARED)
    }
    assert below == set(), "the model, the errors and the store plumbing sit below the engine"
