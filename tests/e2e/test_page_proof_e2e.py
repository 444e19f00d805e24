"""A removal proven on the row's own page (page_proof.py), in the real browser against the
sandbox: the audit trail says which proof it rests on, and what it predicts is exactly what a
full read of the list shows afterwards."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from connector.accepted import last_accepted_roster
from connector.audit import AuditLog
from connector.models import OutcomeStatus
from tests.conftest import MakeSandbox, events
from tests.e2e.test_deactivate import (
    TEAM,
    VARIANTS,
    deactivate,
    ok_writes_per_email,
    person,
    team_box,
    wsettings,
)
from tests.e2e.test_members import scrape

pytestmark = pytest.mark.e2e

LONG = [*TEAM, *[person(f"more{i}@corp.com", f"More {i:02}") for i in range(45)]]  # 2 pages


def outcome_records(settings_audit: Path) -> list[tuple[str, str, str | None]]:
    return [
        (r.target, r.outcome, r.proof)
        for r in AuditLog(settings_audit).records()
        if r.outcome != "clicked"
    ]


@pytest.mark.parametrize("keep_deactivated", [False, True], ids=["row-gone", "row-deactivated"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_row_inside_its_page_is_proven_there_and_the_prediction_is_the_list(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str, keep_deactivated: bool
) -> None:
    box = team_box(make_sandbox, tmp_path, LONG, variant=variant, keep_deactivated=keep_deactivated)
    settings = wsettings(box, tmp_path / "state")
    before = scrape(settings)
    emails = [m.email for m in before.members]
    inside = [emails[10], emails[55]]  # one on each page, neither at a page's edge
    outcomes = deactivate(settings, inside)
    assert [o.status for o in outcomes] == [OutcomeStatus.DEACTIVATED] * 2
    assert ok_writes_per_email(box) == {e: 1 for e in inside}
    assert outcome_records(settings.audit_path) == [(e, "deactivated", "page") for e in inside]
    # What the page proof predicted is what the whole list shows now, field for field.
    now = scrape(wsettings(box, tmp_path / "fresh"))
    last = AuditLog(settings.audit_path).records()[-1]
    assert last.roster_fingerprint_after == now.fingerprint
    kept = last_accepted_roster(settings.last_roster_path)
    assert kept is not None and kept.fingerprint == now.fingerprint


def test_the_lists_last_row_is_proven_on_its_page_and_a_pages_first_by_the_full_read(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """The list's last row: "Page 2 of 2" shows the list's end, where its neighbour below
    would be, so its page proves it. The first row of page 2 has its neighbour above on page 1:
    its page cannot show the gap it left, so the whole list is read."""
    people = LONG[:-1]  # one fewer: a plain member (user0@) is the first row of page 2
    box = team_box(make_sandbox, tmp_path, people)
    settings = wsettings(box, tmp_path / "state")
    emails = [m.email for m in scrape(settings).members]
    last, page_edge = emails[-1], emails[50]
    assert page_edge == "user0@corp.com"
    outcomes = deactivate(settings, [last, page_edge])
    assert ok_writes_per_email(box) == {last: 1, page_edge: 1}
    assert outcome_records(settings.audit_path) == [
        (last, outcomes[0].status.value, "page"),
        (page_edge, outcomes[1].status.value, "roster"),
    ]
    now = scrape(wsettings(box, tmp_path / "fresh"))
    assert AuditLog(settings.audit_path).records()[-1].roster_fingerprint_after == now.fingerprint
    assert {last, page_edge}.isdisjoint(m.email for m in now.members if m.status.value == "active")


def test_a_dropped_banner_is_proven_on_the_rows_page_read_beside_the_page(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = team_box(make_sandbox, tmp_path, LONG, drop_banner=True)
    # A write timeout far longer than the test's own: only the read beside the page ends it.
    settings = wsettings(box, tmp_path / "state", write_timeout_ms=600_000, early_read_ms=500)
    target = scrape(settings).members[20].email
    (outcome,) = deactivate(settings, [target])
    assert outcome.status is OutcomeStatus.DEACTIVATED
    assert ok_writes_per_email(box) == {target: 1}
    seen = [e["event"] for e in events(log_capture)]
    assert "removal.proven_beside" in seen
    assert outcome_records(settings.audit_path) == [(target, "deactivated", "page")]
