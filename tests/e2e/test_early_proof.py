"""A click whose banner never comes is proven by a read on a second page while the first keeps
waiting (removal.py, `early_read_ms`), in the real browser against the sandbox."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from connector.models import OutcomeStatus
from tests.conftest import MakeSandbox, events
from tests.e2e.test_deactivate import deactivate, ok_writes_per_email, statuses, team_box, wsettings

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("keep_deactivated", [False, True], ids=["row-gone", "row-deactivated"])
def test_a_dropped_banner_is_proven_beside_the_page_not_waited_out(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO, keep_deactivated: bool
) -> None:
    box = team_box(make_sandbox, tmp_path, drop_banner=True, keep_deactivated=keep_deactivated)
    # A write timeout far longer than the test's own: only the read beside the page ends it.
    settings = wsettings(
        box, tmp_path / "state", write_timeout_ms=600_000, early_read_ms=500, max_fraction=0.5
    )
    targets = ["user1@corp.com", "user2@corp.com"]
    outcomes = deactivate(settings, targets)
    assert [(o.email, o.status) for o in outcomes] == [
        (t, OutcomeStatus.DEACTIVATED) for t in targets
    ]
    assert all(statuses(box)[t] == "deactivated" for t in targets)
    assert ok_writes_per_email(box) == {t: 1 for t in targets}  # one click each
    proven = [e["email"] for e in events(log_capture) if e["event"] == "removal.proven_beside"]
    assert proven == targets


def test_a_slow_write_read_beside_the_page_too_early_still_ends_in_one_proven_click(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    """The server acts after the first read beside the page: that read proves nothing and
    changes nothing (no second click); the page keeps waiting, reading beside it again now
    and then, and the removal is proven once, by whichever read comes after the server acted
    (the banner's fresh read, or a later read beside)."""
    box = team_box(make_sandbox, tmp_path, slow_write_ms=2_500, slow_write_mode="act")
    settings = wsettings(box, tmp_path / "state", write_timeout_ms=60_000, early_read_ms=300)
    (outcome,) = deactivate(settings, ["user3@corp.com"])
    assert outcome.status is OutcomeStatus.DEACTIVATED
    assert ok_writes_per_email(box) == {"user3@corp.com": 1}
    proofs = [e["proven"] for e in events(log_capture) if e["event"] == "removal.page_proof"]
    assert proofs[0] is False  # the first read beside: too early, it proved nothing
    assert proofs[-1] is True and proofs.count(True) == 1  # then proven once
