"""The connector against the real sandbox in a real browser: the scrape, end to end."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector import runner
from connector.client import StitchConnector
from connector.clock import TestClock
from connector.errors import AuthFailed, HumanNeeded, PageNotRecognised
from connector.logs import new_run_id
from connector.models import MemberList, Progress
from connector.operations import RunOptions
from connector.sandbox.server import RunningSandbox
from connector.settings import Settings
from tests.conftest import MakeSandbox, drifted_selectors, settings_for, signed_in

VARIANTS = ["current", "rbac2022", "legacy"]
pytestmark = pytest.mark.e2e


def scrape(
    settings: Settings, *, on_progress: Callable[[Progress], None] | None = None, **kwargs: Any
) -> MemberList:
    run = RunOptions(run_id=new_run_id(), on_progress=on_progress)

    async def go() -> MemberList:
        async with StitchConnector(settings, run, **kwargs) as stitch:
            return await stitch.list_members()

    return runner.run(go)


def truth(box: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's ground truth, shaped like Member dumps (deactivated members are not listed)."""
    rows = []
    for m in box.state()["members"]:  # type: ignore[union-attr]
        if m["status"] == "deactivated":
            continue
        rows.append(
            {
                "email": m["email"],
                "name": m["name"],
                "role": m["role"],
                "status": m["status"],
                "invoice_admin": m["invoice_admin"],
                "is_self": m["is_login_user"],
            }
        )
    return rows


def scraped(roster: MemberList) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in roster.members]


def assert_matches_truth(roster: MemberList, box: RunningSandbox) -> None:
    assert scraped(roster) == truth(box)  # same members, same order, every field
    state = box.state()["account"]
    assert roster.account.client_id == state["client_id"]  # type: ignore[index]
    assert roster.account.company_name == state["company_name"]  # type: ignore[index]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_with_totp(make_sandbox: MakeSandbox, tmp_path: Path, variant: str) -> None:
    box = make_sandbox(variant=variant, members=30, mfa="totp", latency_ms=50)
    roster = scrape(settings_for(box, tmp_path))
    assert_matches_truth(roster, box)
    assert roster.pages == 1
    pending = [m for m in roster.members if m.status == "pending"]
    assert pending and all(m.name is None for m in pending)
    assert sum(m.invoice_admin for m in roster.members) == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_237_members_over_5_pages(make_sandbox: MakeSandbox, tmp_path: Path, variant: str) -> None:
    box = make_sandbox(variant=variant, members=237, latency_ms=20)
    events: list[Progress] = []
    roster = scrape(signed_in(box, settings_for(box, tmp_path)), on_progress=events.append)
    assert_matches_truth(roster, box)
    assert roster.pages == 5 and roster.count == 237
    pages = [(e.page, e.pages) for e in events if e.step == "page"]
    assert pages == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_signed_in_helper_starts_on_the_list(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str, log_capture: io.StringIO
) -> None:
    """conftest.signed_in, which many tests use to skip what they are not about: the run signs
    in for nothing and clicks through no menu (else those tests would only be slower, silently).
    """
    box = make_sandbox(variant=variant, members=8, latency_ms=10)
    assert_matches_truth(scrape(signed_in(box, settings_for(box, tmp_path))), box)
    events = [json.loads(line) for line in log_capture.getvalue().splitlines()]
    assert [e for e in events if e.get("event") == "browser.ready"] != []  # the log was read
    names = {e.get("event") for e in events}
    assert not names & {"session.signin_needed", "members.fast_path_missed", "ui.click"}, names


def test_slow_render_is_waited_for_not_raced(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=60, latency_ms=2500)
    assert_matches_truth(scrape(signed_in(box, settings_for(box, tmp_path))), box)


@pytest.mark.usefixtures("no_retry_waits")
def test_fault_rate_20_percent_is_retried(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = make_sandbox(members=237, fault_rate=0.2, latency_ms=10, seed=7)
    roster = scrape(settings_for(box, tmp_path, retries=8))
    assert_matches_truth(roster, box)
    events = [json.loads(line)["event"] for line in log_capture.getvalue().splitlines()]
    assert "members.load_error" in events  # the faults really happened and were survived
    assert "retry.attempt_failed" in events  # one tenacity log line per failed attempt


def test_session_expiring_mid_scrape_signs_in_again(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = make_sandbox(members=237, latency_ms=20)

    def expire_after_page_2(event: Progress) -> None:
        if event.step == "page" and event.page == 2:
            box.expire_sessions()

    roster = scrape(settings_for(box, tmp_path), on_progress=expire_after_page_2)
    assert_matches_truth(roster, box)
    events = [json.loads(line)["event"] for line in log_capture.getvalue().splitlines()]
    assert "session.expired_mid_run" in events


def test_saved_session_is_reused_and_private(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = make_sandbox(members=5, latency_ms=10)
    settings = settings_for(box, tmp_path)
    scrape(settings)
    session_file = settings.storage_state_path
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    first_run = log_capture.getvalue()
    assert "signin.done" in first_run
    assert '"element": "app_user_menu"' in first_run  # the first visit goes through the UI
    log_capture.truncate(0)
    log_capture.seek(0)
    assert_matches_truth(scrape(settings), box)
    second_run = log_capture.getvalue()
    assert "signin.done" not in second_run and "members.listed" in second_run
    assert '"element": "app_user_menu"' not in second_run  # then the remembered URL
    assert "members.fast_path_missed" not in second_run


def test_session_ttl_expiry_between_runs_signs_in_again(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(members=5, latency_ms=10)
    settings = settings_for(box, tmp_path)
    scrape(settings)
    box.expire_sessions()
    assert_matches_truth(scrape(settings), box)


def test_only_the_login_user_is_a_valid_roster(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=1, latency_ms=10)
    roster = scrape(signed_in(box, settings_for(box, tmp_path)))
    assert_matches_truth(roster, box)
    assert roster.count == 1 and roster.members[0].is_self


@pytest.mark.parametrize("variant", VARIANTS)
def test_hostile_names_come_back_exactly(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    names = [
        "<script>window.__pwned = 1</script>",
        'O\'Brien "Bob"',
        "🦄🔥 Émilie",
        "x" * 200,
        "<img src=x onerror=alert(1)>",
        "[bold]rich[/bold]",
        '=HYPERLINK("x")',
    ]
    roster_file = tmp_path / "roster.json"
    people = [
        {
            "email": "boss@example.com",
            "name": "Boss",
            "role": "Administrator",
            "status": "active",
            "invoice_admin": True,
            "is_login_user": True,
        }
    ]
    people += [
        {
            "email": f"h{i}@example.com",
            "name": n,
            "role": "General User",
            "status": "active",
            "invoice_admin": False,
        }
        for i, n in enumerate(names)
    ]
    roster_file.write_text(json.dumps(people), encoding="utf-8")
    box = make_sandbox(variant=variant, members_file=roster_file, latency_ms=10)
    roster = scrape(signed_in(box, settings_for(box, tmp_path / "state")))
    assert_matches_truth(roster, box)
    assert {m.name for m in roster.members} >= set(names)


@pytest.mark.slow
def test_wrong_password_fails_once_and_never_trips_the_lockout(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(members=5, latency_ms=10, lockout_threshold=5)
    wrong = settings_for(box, tmp_path / "wrong", password="not-the-password")
    for _ in range(4):  # four runs: if any run submitted twice, the fifth failure would lock
        with pytest.raises(AuthFailed, match="rejected the password"):
            scrape(wrong)
    assert_matches_truth(scrape(settings_for(box, tmp_path / "right")), box)


def test_lockout_is_reported_as_such(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=5, latency_ms=10, lockout_threshold=1)
    with pytest.raises(AuthFailed, match="rejected the password"):
        scrape(settings_for(box, tmp_path, password="wrong-one"))
    with pytest.raises(AuthFailed, match="locked"):
        scrape(settings_for(box, tmp_path))


def test_wrong_totp_secret_is_rejected(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=5, latency_ms=10, mfa="totp")
    with pytest.raises(AuthFailed, match="6-digit code"):
        scrape(settings_for(box, tmp_path, totp_secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))


def test_missing_totp_secret_needs_a_human(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=5, latency_ms=10, mfa="totp")
    with pytest.raises(HumanNeeded, match="6-digit code"):
        scrape(settings_for(box, tmp_path, totp_secret=None))


@pytest.mark.parametrize("variant", ["current", "legacy"])
def test_sso_account_needs_a_human(make_sandbox: MakeSandbox, tmp_path: Path, variant: str) -> None:
    box = make_sandbox(variant=variant, members=10, sso=True, latency_ms=10)
    general = next(
        m
        for m in box.state()["members"]  # type: ignore[union-attr]
        if m["role"] == "General User" and m["status"] == "active"
    )
    with pytest.raises(HumanNeeded, match="single sign-on"):
        scrape(settings_for(box, tmp_path, email=general["email"], timeout_ms=60_000))


def test_drifted_page_is_a_loud_error_with_evidence(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """A selector that no longer matches must never look like an empty or short roster."""
    drifted = drifted_selectors(
        tmp_path, 'email = ["Email", "Email Address"]', 'email = ["E-mail"]'
    )
    box = make_sandbox(members=8, latency_ms=10)
    settings = signed_in(box, settings_for(box, tmp_path / "state"))
    with pytest.raises(PageNotRecognised, match="columns") as info:
        scrape(settings, selectors=drifted)
    kinds = sorted(p.suffix for p in info.value.artifacts)
    assert kinds == [".html", ".png", ".txt"]  # screenshot, page, and the bundle's README
    assert all(p.is_file() and p.stat().st_size > 0 for p in info.value.artifacts)
    assert (
        "st-table__row--body"
        in next(p for p in info.value.artifacts if p.suffix == ".html").read_text()
    )


def test_saved_session_of_another_login_is_not_reused(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(members=8, latency_ms=10)
    scrape(settings_for(box, tmp_path))  # signs in as the admin and saves the session
    other = next(
        m
        for m in box.state()["members"]  # type: ignore[union-attr]
        if not m["is_login_user"] and m["status"] == "active"
    )
    with pytest.raises(AuthFailed):  # it must sign in as `other`, not reuse admin's session
        scrape(settings_for(box, tmp_path, email=other["email"], password="wrong-wrong"))


def test_corrupt_saved_session_is_discarded(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = make_sandbox(members=5, latency_ms=10)
    settings = settings_for(box, tmp_path)
    scrape(settings)
    settings.storage_state_path.write_text("{not json")
    assert_matches_truth(scrape(settings), box)
    assert "session.discarded" in log_capture.getvalue()


def test_drifted_next_button_cannot_shorten_the_roster(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    drifted = drifted_selectors(
        tmp_path,
        'next_button = ["#st-t-pagination-button-next"]\nnext_labels = ["Next", "Next page", '
        '"›", "»", "→", ">"]',
        'next_button = ["#renamed"]\nnext_labels = ["Onward"]',
    )
    box = make_sandbox(members=120, latency_ms=10)
    with pytest.raises(PageNotRecognised) as info:
        scrape(signed_in(box, settings_for(box, tmp_path / "state")), selectors=drifted)
    assert "disagrees with the Next button" in str(info.value) or "120 members" in str(info.value)
    assert info.value.artifacts


def test_totp_code_is_never_replayed_when_signing_in_twice(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO, wall_clock: TestClock
) -> None:
    """The sandbox refuses a spent code (as most servers do); a second sign-in in the same
    30-second window must wait for a fresh code rather than fail. The wait is on a test clock
    both sides read (connector.clock), so it passes at once."""
    box = make_sandbox(members=120, latency_ms=10, mfa="totp", wall_clock=wall_clock.time)

    def expire_after_page_1(event: Progress) -> None:
        if event.step == "page" and event.page == 1:
            box.expire_sessions()

    roster = scrape(settings_for(box, tmp_path), on_progress=expire_after_page_1)
    assert_matches_truth(roster, box)
    assert "session.expired_mid_run" in log_capture.getvalue()
    assert '"signin.totp_wait"' in log_capture.getvalue()  # the second code: the next window's
    assert len(wall_clock.slept) == 1 and 0 < wall_clock.slept[0] <= 30.05, wall_clock.slept
