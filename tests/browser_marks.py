"""The `browser` mark: which tests start something heavy, decided at collection, enforced at run.

A test is `browser` when it starts Chromium (the Playwright driver), the sandbox's servers, a CLI or
`serve` subprocess, or the service. `pytest -m "not browser"` is then the fast layer.

Decided, in order, by:
- an explicit `browser` or `e2e` mark, or living in `tests/e2e/`;
- a fixture in its closure that starts one (a shared one named in STARTING_FIXTURES, or any fixture
  whose code calls one of STARTERS);
- its own code calling one of STARTERS.

Enforced: while a test that is *not* `browser` sets up and runs, starting the Playwright driver,
opening a browser session (even on the worker's running Chromium), binding a sandbox origin or
spawning the CLI fails at once with BrowserGuardError, in every run
(the full one too). A test the rules above miss therefore fails until it is marked, and the fast
layer can never quietly start a browser. Loaded by tests/conftest.py; tests/unit/test_markers.py
runs it with `-p tests.browser_marks` on throwaway tests to prove it fails.
"""

from __future__ import annotations

import os
import subprocess
import types
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

BROWSER = "browser"

# Shared fixtures that start a sandbox, Chromium or the service, wherever they are defined.
STARTING_FIXTURES = frozenset(
    {"make_sandbox", "sandbox", "chromium_browser", "tab", "start_service"}
)
# Names that, called from a fixture's or a test's own code, start one.
STARTERS = frozenset(
    {
        "running_sandbox",
        "make_sandbox",
        "team_box",
        "sync_playwright",
        "async_playwright",
        "start_service",
        "chromium_browser",
    }
)
BROWSER_DIRS = ("e2e",)  # tests/e2e/: every test there drives the connector end to end


class BrowserGuardError(RuntimeError):
    """A test not marked `browser` started a browser, a sandbox or the CLI."""


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _calls_a_starter(func: Callable[..., Any] | None) -> bool:
    code = getattr(func, "__code__", None)
    return isinstance(code, types.CodeType) and bool(_code_names(code) & STARTERS)


def _fixture_starts(defs: Iterable[Any]) -> bool:
    return any(
        fixturedef.argname in STARTING_FIXTURES or _calls_a_starter(fixturedef.func)
        for fixturedef in defs
    )


def is_browser_item(item: pytest.Item) -> bool:
    if item.get_closest_marker(BROWSER) or item.get_closest_marker("e2e"):
        return True
    parts = Path(str(item.path)).parts
    if "tests" in parts and any(d in parts[parts.index("tests") :] for d in BROWSER_DIRS):
        return True
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        for name in info.names_closure:
            if name in STARTING_FIXTURES or _fixture_starts(info.name2fixturedefs.get(name, ())):
                return True
    return _calls_a_starter(getattr(item, "function", None))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Generator[None]:
    """Mark every browser test. Then, after every other reordering (pytest-randomly's shuffle
    included), the slowest first, so that `-n` workers end together: a stable sort, which keeps
    the shuffle within each part."""
    for item in items:
        if is_browser_item(item):
            item.add_marker(BROWSER)
    yield
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# -- the guard ---------------------------------------------------------------------------------


def _refuse(what: str) -> BrowserGuardError:
    return BrowserGuardError(
        f"a test not marked `{BROWSER}` {what}: mark it @pytest.mark.{BROWSER} "
        "(see tests/browser_marks.py)"
    )


def _starts_the_cli(argv: object) -> bool:
    words = [os.fspath(a) for a in argv] if isinstance(argv, list | tuple) else [str(argv)]
    text = " ".join(str(w) for w in words)
    if any(Path(str(w)).name == "stitch-connector" for w in words[:1]):
        return True
    for i, word in enumerate(words[:-1]):
        if word == "-m" and str(words[i + 1]).split(".")[:2] in (
            ["connector"],
            ["connector", "cli"],
        ):
            return True
    return any(
        f"{name}(" in text for name in ("sync_playwright", "async_playwright", "running_sandbox")
    )


class _Guard:
    """Patches the three ways to start something heavy; undone after each phase."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, old))

    def __enter__(self) -> _Guard:
        from playwright._impl.transport import PipeTransport

        import connector.sandbox.server as sandbox_server
        from connector.browser import BrowserSession

        async def no_driver(_self: Any) -> None:
            raise _refuse("started Playwright's driver (Chromium)")

        async def no_session(_self: Any) -> None:  # the worker's Chromium may already run
            raise _refuse("opened a browser session")

        def no_sandbox(*_args: Any, **_kwargs: Any) -> Any:
            raise _refuse("started the sandbox's servers")

        popen_init = subprocess.Popen.__init__

        def guarded_popen(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
            if _starts_the_cli(args):
                raise _refuse(f"spawned the CLI or a browser: {args!r}")
            popen_init(self, args, *rest, **kwargs)

        self._patch(PipeTransport, "connect", no_driver)
        self._patch(BrowserSession, "__aenter__", no_session)
        self._patch(sandbox_server, "bind", no_sandbox)
        self._patch(subprocess.Popen, "__init__", guarded_popen)
        return self

    def __exit__(self, *_exc: object) -> None:
        while self._undo:
            self._undo.pop()()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if item.get_closest_marker(BROWSER):
        return (yield)
    with _Guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if item.get_closest_marker(BROWSER):
        return (yield)
    with _Guard():
        return (yield)
