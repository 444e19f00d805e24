"""The committed fixtures must be what the sandbox renders today: re-record and compare."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def regenerate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regenerate", FIXTURES / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.e2e
@pytest.mark.slow
def test_committed_fixtures_match_a_fresh_recording(tmp_path: Path) -> None:
    regenerate = regenerate_module()
    asyncio.run(regenerate.record_all(tmp_path))
    diff = regenerate.differences(tmp_path, FIXTURES)
    assert diff == [], (
        f"{len(diff)} fixture file(s) differ from what the sandbox renders now: {diff[:5]}. "
        "If the change is intended, run: .venv/bin/python fixtures/regenerate.py"
    )
