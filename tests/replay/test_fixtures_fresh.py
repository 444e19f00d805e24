"""The committed fixtures must be what the sandbox renders today: re-record and compare."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from connector import runner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def regenerate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regenerate", FIXTURES / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("variant", ["current", "rbac2022", "legacy"])
def test_committed_fixtures_match_a_fresh_recording(tmp_path: Path, variant: str) -> None:
    """One UI version per test, so that workers share the recording."""
    regenerate = regenerate_module()
    assert variant in regenerate.VARIANTS
    runner.run(lambda: regenerate.record_all(tmp_path, variants=[variant]))
    diff = regenerate.differences(tmp_path / variant, FIXTURES / variant)
    assert diff == [], (
        f"{len(diff)} fixture file(s) of {variant} differ from what the sandbox renders now: "
        f"{diff[:5]}. If the change is intended, run: .venv/bin/python fixtures/regenerate.py"
    )


def test_every_ui_version_with_fixtures_is_recorded() -> None:
    """The parametrisation above covers every variant regenerate.py records."""
    assert set(regenerate_module().VARIANTS) == {"current", "rbac2022", "legacy"}
    recorded = {p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name[0] not in "._"}
    assert recorded == {"current", "rbac2022", "legacy"}
