"""The layout docs/architecture.md promises, read from the imports: the CLI is an adapter over
the account's App and never reaches a store, the audit trail, the lock, the apply layer or a page
object itself; neither does the HTTP service, which reaches the core only through the App and
the offboarding queue (connector.offboard_queue). And no module imports, at load time, one that
imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connector"
CORE_INTERNALS = (
    "connector.store",
    "connector.audit",
    "connector.lock",
    "connector.apply",
    "connector.removal",
    "connector.stitch",
    "connector.database",
)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_level(path: Path) -> set[str]:
    """What a module imports as it loads, and for its types (`if TYPE_CHECKING:`): not what a
    function imports when it runs (a deferred import is how a module loads Playwright late)."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.If | ast.Try):
            pending.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            pending.extend(h for handler in getattr(node, "handlers", []) for h in handler.body)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """connector module -> the connector modules it imports at module level. The package root
    is left out: its exports are lazy (`__getattr__`), and everything takes __version__ from it."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        if name == "connector":
            continue
        found = set()
        for imported_name in module_level(path):
            while imported_name and imported_name not in paths:
                imported_name = imported_name.rpartition(".")[0]
            if imported_name and imported_name not in ("connector", name):
                found.add(imported_name)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def reaches_core(name: str) -> bool:
    return any(name == core or name.startswith(core + ".") for core in CORE_INTERNALS)


def test_the_cli_imports_no_store_lock_audit_or_page_object() -> None:
    found = {
        path.name: sorted(n for n in imported(path) if reaches_core(n))
        for path in sorted((PACKAGE / "cli").glob("*.py"))
    }
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_the_check_sees_an_import_of_a_store(tmp_path: Path) -> None:
    """The rule above can fail: an adapter written the old way is caught."""
    probe = tmp_path / "old_adapter.py"
    probe.write_text(
        "from connector.store import SnapshotStore\nimport connector.audit\n", encoding="utf-8"
    )
    assert sorted(n for n in imported(probe) if reaches_core(n)) == [
        "connector.audit",
        "connector.store",
        "connector.store.SnapshotStore",
    ]


def test_the_service_imports_no_store_lock_audit_or_page_object() -> None:
    found = {
        path.relative_to(PACKAGE).as_posix(): sorted(n for n in imported(path) if reaches_core(n))
        for path in sorted((PACKAGE / "service").rglob("*.py"))
    }
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_no_import_cycle_among_connector_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    """The rule above can fail: two modules importing each other (one only for its types, as
    the service's api and scim once did) are caught."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b"]]
    assert "connector.service.scim.users" in import_graph()


def test_the_queue_package_leaves_the_public_offboard_function_alone() -> None:
    """A subpackage named like a public export replaces it once imported (issue 13)."""
    import connector
    import connector.offboard_queue.queue

    assert callable(connector.offboard) and callable(connector.offboard_async)
