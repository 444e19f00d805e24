"""The removal state machine (removal.py) on an in-memory UI: every outcome path, no browser.

Each test asserts on the clicks the fake saw: a path that should not click, or should click
once, fails the moment the state machine clicks again.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from connector.errors import LockLost, PageNotRecognised, TransientFailure
from connector.models import Action, OutcomeStatus, PlanTarget, Role, Status
from connector.removal import Removal, Remover, StepPrompt
from tests.unit.fake_ui import TRANSIENT, Click, FakeUI, member

A = "a@corp.com"
D, INVITE = Action.DEACTIVATE, Action.CANCEL_INVITATION


def team(**statuses: Status) -> FakeUI:
    return FakeUI(
        [
            member("me@corp.com", Role.ADMINISTRATOR, is_self=True),
            member(A, status=statuses.get("a", Status.ACTIVE)),
            member("b@corp.com"),
        ]
    )


def target(ui: FakeUI, email: str = A, action: Action = D) -> PlanTarget:
    row = next((m for m in ui.roster if m.email == email), None)
    return PlanTarget(email=email, expected=OutcomeStatus.DEACTIVATED, action=action, member=row)


def remove(
    ui: FakeUI,
    email: str = A,
    action: Action = D,
    *,
    step: StepPrompt | None = None,
    fence: list[BaseException] | None = None,
    attempts: int = 3,
    early_read_s: float = 0.0,
) -> tuple[Removal, list[str]]:
    """One removal; also the `clicked` notices (the audit trail's record before a click)."""
    noticed: list[str] = []

    def check() -> None:
        if fence:
            raise fence.pop(0)

    remover = Remover(
        ui,
        needles=(email,),
        attempts=attempts,
        client_id=ui.client_id,
        step=step,
        on_click=lambda t: noticed.append(t.email),
        fence=check,
        early_read_s=early_read_s,
    )
    return asyncio.run(remover.remove(target(ui, email, action))), noticed


def test_a_lost_banner_is_not_waited_out_when_a_read_beside_the_page_proves_the_removal() -> None:
    ui = team()
    ui.script[A] = [Click("lost", held=asyncio.Event())]  # the page would wait for ever
    result, _ = remove(ui, early_read_s=0.01)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D)] and ui.reads_beside == 1
    assert ui.reads == 0  # that read is the proof: not read again
    assert result.roster_after is not None and ui.shots == [f"{A}-before", f"{A}-after"]


def test_a_read_beside_that_proves_nothing_changes_nothing() -> None:
    """The member is still listed when read beside the page: the page's own outcome (here a
    late "try again" error) decides, as without the early read; one click per attempt."""
    ui = team()
    late = asyncio.Event()
    ui.after_read_beside = late.set
    ui.script[A] = [Click("error", takes_effect=False, text=TRANSIENT, held=late), Click()]
    result, _ = remove(ui, early_read_s=0.01)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D), (A, D)] and ui.reads_beside == 1


def test_a_lost_banner_with_the_member_still_listed_stays_unknown_and_is_not_clicked_again() -> (
    None
):
    ui = team()
    lost = asyncio.Event()
    ui.after_read_beside = lost.set  # the wait ends as the write timeout would: nothing shown
    ui.script[A] = [Click("lost", takes_effect=False, held=lost)]
    result, _ = remove(ui, early_read_s=0.01)
    assert result.outcome.status is OutcomeStatus.UNKNOWN and result.halts_batch
    assert ui.clicks == [(A, D)] and ui.reads_beside == 1 and ui.reads == 1


def test_deactivated_after_one_click_proven_by_a_fresh_read() -> None:
    ui = team()
    result, noticed = remove(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D)] and noticed == [A]
    assert result.roster_after is not None and result.outcome.reason is None
    assert ui.shots == [f"{A}-before", f"{A}-after"]
    assert result.outcome.evidence == [f"fake://{A}-before.png", f"fake://{A}-after.png"]
    assert not result.halts_batch


def test_an_invitation_is_cancelled_once() -> None:
    ui = team(a=Status.PENDING)
    result, _ = remove(ui, action=INVITE)
    assert result.outcome.status is OutcomeStatus.INVITATION_CANCELLED
    assert ui.clicks == [(A, INVITE)] and ui.status(A) is None


def test_already_absent_when_a_fresh_read_lacks_them_and_nothing_is_clicked() -> None:
    ui = team()
    planned = target(ui)
    ui.roster = [m for m in ui.roster if m.email != A]
    remover = Remover(ui, needles=(A,), attempts=2, client_id=1)
    result = asyncio.run(remover.remove(planned))
    assert result.outcome.status is OutcomeStatus.ALREADY_ABSENT
    assert ui.clicks == [] and ui.reads == 1


def test_already_absent_when_the_row_shows_deactivated() -> None:
    ui = team(a=Status.DEACTIVATED)
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.ALREADY_ABSENT
    assert ui.clicks == []


def test_a_listed_member_without_a_row_fails_unclicked() -> None:
    ui = team()
    ui.no_row.add(A)
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert "not clicked" in (result.outcome.reason or "")
    assert ui.clicks == []


def test_a_lost_banner_is_unknown_and_never_clicked_twice() -> None:
    ui = team()
    ui.script[A] = [Click("lost", takes_effect=False)]
    result, noticed = remove(ui, attempts=4)
    assert result.outcome.status is OutcomeStatus.UNKNOWN
    assert "not clicked again" in (result.outcome.reason or "")
    assert ui.clicks == [(A, D)] and noticed == [A]
    assert result.halts_batch


def test_a_lost_banner_with_the_member_gone_is_deactivated_with_a_note() -> None:
    ui = team()
    ui.script[A] = [Click("lost", takes_effect=True)]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert result.outcome.reason == "page showed nothing: None"
    assert ui.clicks == [(A, D)]


def test_a_success_banner_with_the_member_still_active_fails() -> None:
    ui = team()
    ui.script[A] = [Click("ok", takes_effect=False)]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert "still lists them" in (result.outcome.reason or "")
    assert ui.clicks == [(A, D)] and ui.status(A) is Status.ACTIVE


def test_an_error_banner_fails_after_one_click() -> None:
    ui = team()
    ui.script[A] = [Click("error", takes_effect=False, text="You cannot do that")]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert result.outcome.reason == "You cannot do that"
    assert ui.clicks == [(A, D)]


def test_a_transient_error_is_clicked_again_after_a_fresh_read() -> None:
    ui = team()
    ui.script[A] = [Click("error", takes_effect=False, text=TRANSIENT), Click("ok")]
    result, noticed = remove(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D), (A, D)] and noticed == [A, A]
    assert ui.reads == 2  # the read after the refused click, then the proof


def test_a_transient_error_every_time_gives_up_after_the_attempts() -> None:
    ui = team()
    ui.script[A] = [Click("error", takes_effect=False, text=TRANSIENT)]
    result, _ = remove(ui, attempts=2)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert ui.clicks == [(A, D), (A, D)]


def test_a_write_answered_by_the_sign_in_page_is_clicked_again() -> None:
    ui = team()
    ui.script[A] = [Click("signed_out", takes_effect=False), Click("ok")]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.sign_ins == 1 and ui.clicks == [(A, D), (A, D)]


def test_a_dialog_we_cancelled_fails_and_halts_the_batch() -> None:
    ui = team()
    ui.script[A] = [Click("cancelled", takes_effect=False)]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert result.page_not_recognised and result.halts_batch
    assert ui.clicks == [(A, D)]


def test_a_fault_before_any_click_fails_and_names_the_drift() -> None:
    ui = team()
    ui.faults["row"] = [PageNotRecognised("no row menu", element="row_menu_button")]
    result, noticed = remove(ui)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert result.page_not_recognised and result.halts_batch
    assert ui.clicks == [] and noticed == []


def test_a_list_that_failed_to_load_is_opened_again() -> None:
    ui = team()
    ui.faults["row"] = [TransientFailure("the list said: try later")]
    result, _ = remove(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D)]


@pytest.mark.parametrize(
    ("took_effect", "reread_fails", "expected"),
    [
        (True, False, OutcomeStatus.DEACTIVATED),
        (False, False, OutcomeStatus.UNKNOWN),
        (True, True, OutcomeStatus.UNKNOWN),
    ],
)
def test_a_fault_after_the_click_is_settled_by_a_fresh_read(
    took_effect: bool, reread_fails: bool, expected: OutcomeStatus
) -> None:
    ui = team()
    ui.script[A] = [Click("ok", takes_effect=took_effect)]
    ui.faults["after_click"] = [RuntimeError("Target page, context or browser has been closed")]
    if reread_fails:
        ui.faults["members"] = [TransientFailure("the list did not load")]
    result, _ = remove(ui)
    assert result.outcome.status is expected
    assert (result.outcome.reason or "").startswith("clicked, then TransientFailure: RuntimeError")
    assert ui.clicks == [(A, D)]  # never a second click on an unproven one


def test_a_run_that_lost_the_lock_clicks_nothing() -> None:
    ui = team()
    result, noticed = remove(ui, fence=[LockLost("another run took the lock")])
    assert result.outcome.status is OutcomeStatus.FAILED
    assert ui.clicks == [] and noticed == []


def test_a_row_in_another_state_than_planned_is_not_clicked() -> None:
    ui = team(a=Status.PENDING)
    result, _ = remove(ui, action=D)
    assert result.outcome.status is OutcomeStatus.FAILED
    assert "shows pending" in (result.outcome.reason or "")
    assert ui.clicks == []


@pytest.mark.parametrize("answer", ["skip", "quit"])
def test_a_person_who_says_no_is_refused_and_nothing_is_clicked(
    answer: Literal["skip", "quit"],
) -> None:
    ui = team()
    asked: list[str] = []

    async def prompt(what: str) -> Literal["go", "skip", "quit"]:
        asked.append(what)
        return answer

    result, _ = remove(ui, step=prompt)
    assert result.outcome.status is OutcomeStatus.REFUSED
    assert result.outcome.rule == f"human_{answer}"
    assert result.quit is (answer == "quit") and result.halts_batch is (answer == "quit")
    assert asked == [f"Deactivate {A} (General User) on account 1"]
    assert ui.clicks == []


def test_a_person_who_says_go_gets_the_click() -> None:
    ui = team()

    async def prompt(what: str) -> Literal["go", "skip", "quit"]:
        return "go"

    result, _ = remove(ui, step=prompt)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D)]


def test_a_read_beside_too_early_is_made_again_until_one_proves_the_removal() -> None:
    """The server acts only after the first read beside the page (a slow server, a loaded
    machine) and the banner never comes: a later read beside proves it, one click."""
    ui = team()
    ui.script[A] = [Click("lost", takes_effect=False, held=asyncio.Event())]  # never shown
    acted: list[bool] = []

    def server_acts_late() -> None:
        if not acted:
            acted.append(True)
            ui.roster = [m for m in ui.roster if m.email != A]

    ui.after_read_beside = server_acts_late
    remover = Remover(ui, needles=(A,), attempts=3, client_id=ui.client_id, early_read_s=0.01)

    async def bounded() -> Removal:  # before: the page waited for ever after the first read
        return await asyncio.wait_for(remover.remove(target(ui)), timeout=10)

    result = asyncio.run(bounded())
    assert result.outcome.status is OutcomeStatus.DEACTIVATED
    assert ui.clicks == [(A, D)] and ui.reads_beside == 2 and ui.reads == 0


def test_a_removal_cancelled_while_it_reads_beside_the_page_leaves_no_click_running() -> None:
    """The caller gives up (a service stopping, a timeout) while the page waits for a banner
    that never comes: the wait on the page ends with it (before: left running on its own)."""
    ui = team()
    ui.script[A] = [Click("lost", takes_effect=False, held=asyncio.Event())]  # never shown
    remover = Remover(ui, needles=(A,), attempts=3, client_id=ui.client_id, early_read_s=0.01)

    async def give_up() -> list[asyncio.Task[object]]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(remover.remove(target(ui)), timeout=0.3)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(give_up()) == [] and ui.clicks == [(A, D)]
