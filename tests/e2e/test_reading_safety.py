"""The reading failures issue 10 found, reproduced against the real sandbox and browser.

Each UI change is a small `--mutation-script` (the sandbox's hook for a release nobody has seen):
the same kind of change the held-out set made, written here so the defect has a test that failed
on the reader before meaning-based reading.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import runner
from connector.client import StitchConnector
from connector.doctor import Doctor, DoctorReport
from connector.errors import PageNotRecognised
from connector.models import OutcomeStatus
from connector.sandbox.server import RunningSandbox
from connector.selector_set import load_selectors
from connector.settings import Settings
from tests.conftest import MakeSandbox
from tests.e2e.test_deactivate import deactivate, statuses, team_box, writes, wsettings
from tests.e2e.test_members import assert_matches_truth, scrape

pytestmark = pytest.mark.e2e

# The Invoice Admin pill restyled: a new class, the same words.
RESTYLED_PILL = """
window.StitchMutations.register("restyled-pill", {
  list(ctx) {
    ctx.root.querySelectorAll(".st-pill--invoice-admin, .st-role--invoice").forEach((pill) => {
      pill.className = "chip_9f2a1 chip--gold_77c0e";
    });
  }
});
"""
# The Invoice Admin marker gone from the page (a release that shows it elsewhere, or not at all).
NO_PILL = """
window.StitchMutations.register("no-pill", {
  list(ctx) {
    const pills = ".st-pill--invoice-admin, .st-role--invoice";
    ctx.root.querySelectorAll(pills).forEach((p) => p.remove());
  }
});
"""
# A small "2FA" badge right after one member's email, its own element, no whitespace between.
GLUED_BADGE = """
window.StitchMutations.register("glued-badge", {
  list(ctx) {
    ctx.root.querySelectorAll("[id^='st-t-member-email-']").forEach((span) => {
      if (span.textContent !== "a@corp.com") return;
      span.after(ctx.el("span", { "class": "b_2fa" }, "2FA"));
    });
  }
});
"""


# The marker shown on another member's row: one Invoice Admin, consistent, but a different one.
MOVED_PILL = """
window.StitchMutations.register("moved-pill", {
  list(ctx) {
    const pill = ctx.root.querySelector(".st-pill--invoice-admin, .st-role--invoice");
    const other = ctx.root.querySelector("[data-email='a@corp.com'] [id^='st-t-member-status-']");
    if (pill && other) other.after(pill);
  }
});
"""


def script(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "release.js"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_restyled_invoice_admin_badge_is_still_the_invoice_admin(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Was: `deactivate` removed the Invoice Admin and exited 0 (the flag was one CSS class)."""
    box = team_box(make_sandbox, tmp_path, mutation_script=script(tmp_path, RESTYLED_PILL))
    settings = wsettings(box, tmp_path / "state")
    (outcome,) = deactivate(settings, ["pay@corp.com"])
    assert (outcome.status, outcome.rule) == (OutcomeStatus.REFUSED, "invoice_admin")
    assert writes(box) == [] and statuses(box)["pay@corp.com"] == "active"
    assert_matches_truth(scrape(settings), box)


def test_an_invoice_admin_marker_that_vanishes_is_loud_and_stays_protected(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """The last accepted roster knew pay@ as the Invoice Admin; a page that marks nobody while
    pay@ is still active is not believed, and nothing is clicked."""
    release = script(tmp_path, "")
    box = team_box(make_sandbox, tmp_path, mutation_script=release)
    settings = wsettings(box, tmp_path / "state")
    scrape(settings)  # the last accepted roster
    release.write_text(NO_PILL, encoding="utf-8")  # Stitch ships a release
    with pytest.raises(PageNotRecognised, match="Invoice Admin") as info:
        deactivate(settings, ["pay@corp.com"])
    assert info.value.element == "extract.invoice_admin"
    with pytest.raises(PageNotRecognised, match="still listed as active"):
        scrape(settings)
    assert writes(box) == [] and statuses(box)["pay@corp.com"] == "active"


def test_a_protection_is_sticky_when_the_marker_moves_to_someone_else(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """A consistent read (one Invoice Admin) that moved the marker still cannot switch the old
    holder's protection off in the same run: it ends only once such a read was accepted."""
    release = script(tmp_path, "")
    box = team_box(make_sandbox, tmp_path, mutation_script=release)
    settings = wsettings(box, tmp_path / "state")
    scrape(settings)  # the last accepted roster: pay@ is the Invoice Admin
    release.write_text(MOVED_PILL, encoding="utf-8")
    (outcome,) = deactivate(settings, ["pay@corp.com"])
    assert (outcome.status, outcome.rule) == (OutcomeStatus.REFUSED, "was_invoice_admin")
    assert writes(box) == []


def test_a_badge_after_the_email_does_not_make_a_present_member_absent(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Was: the badge's text ran into the address, the exact lookup missed, and `deactivate`
    answered already_absent (exit 0) for a member who still had access."""
    box = team_box(make_sandbox, tmp_path, mutation_script=script(tmp_path, GLUED_BADGE))
    settings = wsettings(box, tmp_path / "state")
    assert_matches_truth(scrape(settings), box)
    (outcome,) = deactivate(settings, ["a@corp.com"])
    assert outcome.status is OutcomeStatus.DEACTIVATED
    assert statuses(box)["a@corp.com"] == "deactivated"
    assert [w["email"] for w in writes(box)] == ["a@corp.com"]


def test_text_run_into_an_address_is_loud_and_never_already_absent(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    glued = """
window.StitchMutations.register("glued-text", {
  list(ctx) {
    ctx.root.querySelectorAll("[id^='st-t-member-email-']").forEach((span) => {
      span.textContent = span.textContent + "2fa";
    });
  }
});
"""
    box = team_box(make_sandbox, tmp_path, mutation_script=script(tmp_path, glued))
    with pytest.raises(PageNotRecognised, match="not a whole email address"):
        deactivate(wsettings(box, tmp_path / "state"), ["a@corp.com"])
    assert writes(box) == []


def test_a_dialog_that_no_longer_names_the_member_is_cancelled_and_reported_failed(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Was: the connector cancelled the dialog itself (0 writes) yet reported `unknown`."""
    box = team_box(make_sandbox, tmp_path, mutations=("dialog-email-omitted",))
    (outcome,) = deactivate(wsettings(box, tmp_path / "state"), ["a@corp.com"])
    assert outcome.status is OutcomeStatus.FAILED, outcome
    assert "does not name a@corp.com" in (outcome.reason or "")
    assert writes(box) == [] and statuses(box)["a@corp.com"] == "active"


def run_doctor(settings: Settings, rehearse: str | None) -> DoctorReport:
    doc = Doctor(load_selectors())

    async def go() -> DoctorReport:
        async with StitchConnector(settings, observer=doc.observe, reuse_session=False) as stitch:
            return await stitch.doctor(doc, rehearse=rehearse)

    return runner.run(go)


def page_two_member(box: RunningSandbox) -> str:
    members = box.state()["members"]
    return str(
        next(
            m["email"]
            for m in members[50:]  # type: ignore[index]
            if m["status"] == "active" and not m["invoice_admin"] and not m["is_login_user"]
        )
    )


def test_doctor_rehearses_a_member_on_page_two(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    """Was: --rehearse looked at page 1 only, so a page-2 member was 'row missing' (exit 7)."""
    box = make_sandbox(members=60, latency_ms=10)
    report = run_doctor(wsettings(box, tmp_path / "state"), page_two_member(box))
    assert report.ok, report.model_dump_json(indent=2)
    named = next(c for c in report.checks if c.element == "confirm_dialog names the member")
    assert named.status == "found"
    assert box.state()["writes"] == []


@pytest.mark.parametrize(
    ("mutation", "element"),
    [
        ("list-invoice-marker-every-row", "extract.invoice_admin"),
        ("list-count-mismatch", "extract.row"),
        ("list-email-ellipsis", "extract.email"),
    ],
)
def test_doctor_fails_whenever_members_would_and_names_the_element(
    make_sandbox: MakeSandbox, tmp_path: Path, mutation: str, element: str
) -> None:
    box = make_sandbox(members=12, latency_ms=10, mutations=(mutation,))
    settings = wsettings(box, tmp_path / "state", timeout_ms=5_000)
    with pytest.raises(PageNotRecognised) as info:
        scrape(settings)
    report = run_doctor(settings, None)
    assert not report.ok
    failing = [c for c in report.checks if c.required and c.status != "found"]
    assert any(c.element == element for c in failing), [c.model_dump() for c in failing]
    assert info.value.element == element


# A restructured table: header cells become <td> in <thead>, every body row gains a leading
# cell no header names, and the Name header spans an avatar with initials plus the name.
RESTRUCTURED = """
window.StitchMutations.register("restructured", {
  list(ctx) {
    const table = ctx.table;
    if (!table || table.tagName !== "TABLE") return;
    table.className = "tbl_x81";
    const head = table.querySelector("thead tr");
    Array.from(head.children).forEach((th) => {
      const td = ctx.el("td", null);
      while (th.firstChild) td.appendChild(th.firstChild);
      th.replaceWith(td);
    });
    head.children[0].setAttribute("colspan", "2");
    table.querySelectorAll("tbody tr").forEach((tr) => {
      tr.className = "r_19af";
      const name = tr.children[0];
      const text = name.textContent.trim();
      const words = text.split(/\\s+/).map((w) => w[0] || "");
      const initials = words.join("").toUpperCase().slice(0, 2);
      const shown = /^[A-Z]{1,2}$/.test(initials) ? initials : "";
      tr.insertBefore(ctx.el("td", { "class": "avatar" }, shown), name);
      tr.insertBefore(ctx.el("td", { "class": "sel" }), tr.firstChild);
    });
  }
});
"""


@pytest.mark.parametrize("variant", ["rbac2022", "legacy"])
def test_a_restructured_table_is_read_exactly(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    box = make_sandbox(
        variant=variant, members=60, latency_ms=10, mutation_script=script(tmp_path, RESTRUCTURED)
    )
    assert_matches_truth(scrape(wsettings(box, tmp_path / "state")), box)
