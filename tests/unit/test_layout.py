"""The layout docs/architecture.md promises, read from the imports: the CLI is an adapter over
the account's App and never reaches a store, the audit trail, the lock, the apply layer or a page
object itself. (The service and the Python API follow as issue 13 moves them.)"""

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
