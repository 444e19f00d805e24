"""The shape docs/architecture.md promises, measured on the code (issue 13): Playwright only in
the driver (stitch/, browser.py) and the tracing/recording layer; short functions; files a
reader can hold. test_layout.py checks the adapters' imports and that there is no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "connector"
# Where the browser may be named: the page objects, the launcher, and the layer that records
# what the browser did (traces, evidence screenshots, fixtures).
PLAYWRIGHT_HOMES = ("stitch/", "browser.py", "tracing.py", "recorder.py", "artifacts.py")
MAX_FUNCTION_LINES = 60  # from the first statement: a Typer command's options are declarations
MAX_FILE_LINES = 430  # "about 400"; the sandbox's templates are HTML, not counted here
LONG_ON_PURPOSE = "Long because"  # a docstring that starts a paragraph so may pass the limit


def sources() -> list[tuple[str, str]]:
    return [
        (p.relative_to(PACKAGE).as_posix(), p.read_text(encoding="utf-8"))
        for p in sorted(PACKAGE.rglob("*.py"))
    ]


def playwright_imports(source: str) -> list[int]:
    """Lines that import Playwright, at any level (TYPE_CHECKING and inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Import)
            and any(a.name.startswith("playwright") for a in node.names)
        ) or (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("playwright")):
            found.append(node.lineno)
    return found


def long_functions(source: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.body[0].lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and LONG_ON_PURPOSE not in doc:
                found.append((node.name, length))
    return found


def test_playwright_is_imported_only_by_the_driver_and_the_recording_layer() -> None:
    outside = {
        name: lines
        for name, source in sources()
        if not name.startswith(PLAYWRIGHT_HOMES) and (lines := playwright_imports(source))
    }
    assert outside == {}


def test_the_apply_layer_and_the_core_never_name_the_browser() -> None:
    core = ("apply.py", "removal.py", "members_ui.py", "planner.py", "policy.py", "app.py")
    for name, source in sources():
        if name in core or name.startswith(("offboard_queue/", "service/", "cli/")):
            assert playwright_imports(source) == [], name


def test_no_function_is_over_60_lines_without_saying_why() -> None:
    found = {name: fns for name, source in sources() if (fns := long_functions(source))}
    assert found == {}


def test_no_file_is_much_over_400_lines() -> None:
    sizes = {name: source.count("\n") for name, source in sources()}
    assert {name: n for name, n in sizes.items() if n > MAX_FILE_LINES} == {}


@pytest.mark.parametrize(
    ("source", "playwright", "long"),
    [
        ("from playwright.async_api import Page\n", [1], []),
        ("def f():\n    import playwright\n", [2], []),
        ("def f():\n" + "    x = 1\n" * 61, [], [("f", 61)]),
        ('def f():\n    """Long because a table."""\n' + "    x = 1\n" * 70, [], []),
        ("def f():\n" + "    x = 1\n" * 60, [], []),
    ],
)
def test_the_checks_can_fail(
    source: str, playwright: list[int], long: list[tuple[str, int]]
) -> None:
    assert playwright_imports(source) == playwright
    assert long_functions(source) == long


def test_the_core_and_the_cli_load_without_playwright() -> None:
    """`--help`, the planner and the stores stay quick: the browser loads only for a run."""
    import subprocess
    import sys

    probe = (
        "import sys; import connector.app, connector.cli.app, connector.planner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'playwright'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
