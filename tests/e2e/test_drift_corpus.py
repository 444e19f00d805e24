"""The connector against the drift corpus: every list, sign-in and app mutation, one scrape each.

"exact" mutations leave the page plainly readable, so the roster must equal the sandbox's truth;
"loud" ones make it unreadable or ambiguous, so the scrape must fail with a typed ConnectorError
and never return a roster. The labels say what a careful person would conclude, not what today's
reader manages (docs/sandbox-dom.md "Drift corpus"). Dialog mutations are write-path material and
are not run here.

One sandbox per variant for the module (60 members: two pages), switched between mutations with
the runtime endpoint. List mutations reuse one saved session per variant; sign-in and app
mutations start from a fresh state directory so the sign-in really happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConnectorError
from connector.models import MemberList
from connector.sandbox.mutations import MUTATIONS
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from connector.settings import Settings
from tests.conftest import settings_for, signed_in
from tests.e2e.test_members import assert_matches_truth, scrape

pytestmark = pytest.mark.e2e

MEMBERS = 60
CORPUS = sorted(name for name, m in MUTATIONS.items() if m.area in ("list", "signin", "app"))
TIMEOUT_MS = 15_000  # the suite's usual wait: under a loaded CI, 8 s was too short to sign in
# A loud list may only show itself by never becoming ready: there, with the session already
# saved (no sign-in inside the wait), a shorter wait proves the same loud error sooner.
LOUD_LIST_TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def boxes() -> Iterator[dict[str, RunningSandbox]]:
    managers: list[Any] = []
    started: dict[str, RunningSandbox] = {}
    try:
        for variant in sorted({MUTATIONS[name].variant for name in CORPUS}):
            manager = running_sandbox(
                SandboxOptions(variant=variant, members=MEMBERS, latency_ms=20)
            )
            started[variant] = manager.__enter__()
            managers.append(manager)
        yield started
    finally:
        for manager in managers:
            manager.__exit__(None, None, None)


@pytest.fixture(scope="module")
def session_dirs(
    boxes: dict[str, RunningSandbox], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One state directory per variant, signed in already: list mutations start on the list."""
    dirs = {variant: tmp_path_factory.mktemp(f"session-{variant}") for variant in boxes}
    for variant, state_dir in dirs.items():
        signed_in(boxes[variant], corpus_settings(boxes[variant], state_dir))
    return dirs


def corpus_settings(box: RunningSandbox, state_dir: Path, timeout_ms: int = TIMEOUT_MS) -> Settings:
    return settings_for(box, state_dir, timeout_ms=timeout_ms, retries=1)


def test_the_corpus_covers_every_variant() -> None:
    assert {MUTATIONS[name].variant for name in CORPUS} == {"current", "rbac2022", "legacy"}


@pytest.mark.parametrize("name", CORPUS)
def test_mutation(
    boxes: dict[str, RunningSandbox],
    session_dirs: dict[str, Path],
    tmp_path: Path,
    name: str,
) -> None:
    mutation = MUTATIONS[name]
    box = boxes[mutation.variant]
    state_dir = session_dirs[mutation.variant] if mutation.area == "list" else tmp_path
    before = box.state()
    box.set_mutations([name])
    try:
        if mutation.expect == "exact":
            roster = scrape(corpus_settings(box, state_dir))
            assert_matches_truth(roster, box)
        else:
            result: MemberList | None = None
            wait = LOUD_LIST_TIMEOUT_MS if mutation.area == "list" else TIMEOUT_MS
            with pytest.raises(ConnectorError) as caught:
                result = scrape(corpus_settings(box, state_dir, wait))
            assert result is None
            assert caught.value.exit_code != 0
    finally:
        box.set_mutations([])
    after = box.state()
    assert after["members"] == before["members"] and after["writes"] == []  # presentation only
