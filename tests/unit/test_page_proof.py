"""A removal proven on the row's own page (page_proof.py), and the removal state machine using
it: only a page that leaves no other reading proves anything; everything else reads it all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from connector.errors import TransientFailure
from connector.models import Account, Action, Member, MemberList, OutcomeStatus, Role, Status
from connector.page_proof import ShownPage, proven_on_page
from connector.removal import Removal, Remover
from tests.unit.fake_ui import Click, FakeUI, member

EMAILS = [f"m{i:02}@corp.com" for i in range(12)]


def roster(members: list[Member]) -> MemberList:
    return MemberList(
        account=Account(client_id=1),
        members=members,
        scraped_at=datetime.now(UTC),
        pages=3,
        source_url="fake://members",
        selectors_version="fake",
        mentioned=frozenset({"m05@corp.com", "m07@corp.com"}),
    )


BEFORE = roster(
    [member("me@corp.com", Role.ADMINISTRATOR, is_self=True)] + [member(e) for e in EMAILS]
)
TARGET = "m05@corp.com"  # row 7 of 13 (index 6)


def page(members: list[Member], start: int, count: int | None = None, **kw: object) -> ShownPage:
    """Rows start..start+5 of `members` (0-based), as one page of five shows them."""
    rows = members[start : start + 5]
    return ShownPage(
        rows,
        len(members) if count is None else count,
        kw.get("first_row", start + 1),  # type: ignore[arg-type]
        frozenset(kw.get("mentioned", ())),  # type: ignore[call-overload]
    )


def without(email: str) -> list[Member]:
    return [m for m in BEFORE.members if m.email != email]


def test_a_page_where_the_row_left_a_gap_proves_it_and_predicts_the_full_read() -> None:
    after = proven_on_page(BEFORE, TARGET, page(without(TARGET), 5))
    assert after is not None
    assert after.fingerprint == roster(without(TARGET)).fingerprint  # what a full read gives
    assert TARGET not in after.mentioned and "m07@corp.com" in after.mentioned


@pytest.mark.parametrize(
    ("why", "shown"),
    [
        ("the count did not drop", page(without(TARGET), 5, count=len(BEFORE.members))),
        ("no count on the page", ShownPage(without(TARGET)[5:10], None, 6, frozenset())),
        ("the address is still in the text", page(without(TARGET), 5, mentioned={TARGET})),
        ("the row still there", page(BEFORE.members, 4)),
        ("a neighbour is off the page", page(without(TARGET), 6)),
        ("the other neighbour is off the page", page(without(TARGET), 1)),
        (
            "another row went too",
            ShownPage([without(TARGET)[i] for i in (4, 6, 7, 8, 9)], 12, 5, frozenset()),
        ),
        ("the page says it starts elsewhere", page(without(TARGET), 5, first_row=1)),
    ],
)
def test_a_page_that_leaves_another_reading_proves_nothing(why: str, shown: ShownPage) -> None:
    assert proven_on_page(BEFORE, TARGET, shown) is None, why


def edge(members: list[Member], start: int, **kw: object) -> ShownPage:
    """A page of five that states whether it is the list's first or last page, and no range."""
    shown = page(members, start, first_row=None)
    first, last = start == 0, start + len(shown.members) == len(members)
    return ShownPage(**{**vars(shown), "first_page": first, "last_page": last, **kw})  # type: ignore[arg-type]


def test_the_lists_first_and_last_rows_are_proven_only_where_the_page_states_its_edge() -> None:
    """The list's edge stands in for the missing neighbour, where the page says it is there."""
    first, last = BEFORE.members[0].email, BEFORE.members[-1].email
    for email, start in ((first, 0), (last, 7)):
        expected = roster(without(email)).fingerprint
        after = proven_on_page(BEFORE, email, edge(without(email), start))
        assert after is not None and after.fingerprint == expected
        # Nothing on the page says where the list starts or ends.
        unsaid = edge(without(email), start, first_page=False, last_page=False)
        assert proven_on_page(BEFORE, email, unsaid) is None


@pytest.mark.parametrize(
    ("why", "email", "shown"),
    [
        ("not the last page", BEFORE.members[-1].email, edge(BEFORE.members[:-1], 6)),
        (
            "the last page, but it ends before the row's predecessor",
            BEFORE.members[-1].email,
            edge(BEFORE.members[:-1], 6, last_page=True),  # a page claiming to end too soon
        ),
        (
            "not the first page",
            BEFORE.members[0].email,
            edge(without(BEFORE.members[0].email), 0, first_page=False, first_row=2),
        ),
        (
            "the first page, but the row sat in the middle of the list",
            TARGET,
            edge(without(TARGET), 0, first_page=True),
        ),
    ],
)
def test_an_edge_the_page_does_not_show_proves_nothing(
    why: str, email: str, shown: ShownPage
) -> None:
    assert proven_on_page(BEFORE, email, shown) is None, why


def test_a_row_shown_deactivated_in_place_proves_it_and_nothing_else_does() -> None:
    kept = [
        m.model_copy(update={"status": Status.DEACTIVATED}) if m.email == TARGET else m
        for m in BEFORE.members
    ]
    after = proven_on_page(BEFORE, TARGET, page(kept, 4, mentioned={TARGET}))
    assert after is not None and after.fingerprint == roster(kept).fingerprint
    assert proven_on_page(BEFORE, TARGET, page(BEFORE.members, 4, mentioned={TARGET})) is None
    joined = len(kept) + 1  # Deactivated, but the list's count says someone else changed it
    assert proven_on_page(BEFORE, TARGET, page(kept, 4, count=joined, mentioned={TARGET})) is None


def test_a_member_not_in_the_prediction_is_never_proven() -> None:
    assert proven_on_page(BEFORE, "stranger@corp.com", page(BEFORE.members, 0)) is None


# ------------------------------------------------------------------ the removal using it


def ui_of(**kw: object) -> FakeUI:
    return FakeUI(list(BEFORE.members), **{"page_size": 5, **kw})  # type: ignore[arg-type]


def removal(ui: FakeUI, email: str = TARGET, early_read_s: float = 0.0) -> Removal:
    row = next(m for m in ui.roster if m.email == email)
    target_ = dict(
        email=email, expected=OutcomeStatus.DEACTIVATED, action=Action.DEACTIVATE, member=row
    )
    from connector.models import PlanTarget

    remover = Remover(ui, needles=(email,), attempts=3, client_id=1, early_read_s=early_read_s)
    return asyncio.run(remover.remove(PlanTarget(**target_), ui.listed()))  # type: ignore[arg-type]


@pytest.mark.parametrize("keeps_deactivated", [True, False])
def test_an_expected_banner_is_proven_on_the_rows_page_alone(keeps_deactivated: bool) -> None:
    ui = ui_of(keeps_deactivated=keeps_deactivated)
    result = removal(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED and result.proof == "page"
    assert (ui.page_reads, ui.reads, ui.clicks) == (1, 0, [(TARGET, Action.DEACTIVATE)])
    assert result.roster_after is not None
    assert result.roster_after.fingerprint == ui.listed().fingerprint  # as a full read says


def test_a_banner_whose_click_changed_nothing_still_fails_on_the_full_read() -> None:
    ui = ui_of(script={TARGET: [Click("ok", takes_effect=False)]})
    result = removal(ui)
    assert result.outcome.status is OutcomeStatus.FAILED and result.proof == "roster"
    assert (ui.page_reads, ui.reads, len(ui.clicks)) == (1, 1, 1)


@pytest.mark.parametrize(
    ("ui", "page_reads"),
    [
        (ui_of(script={TARGET: [Click("ok", text="Something else happened")]}), 0),
        (ui_of(faults={"page": [TransientFailure("the list page did not load")]}), 1),
        (ui_of(page_size=6, keeps_deactivated=False), 1),  # the first row of its page
    ],
    ids=["unexpected banner text", "the page read fails", "row at the page's edge"],
)
def test_anything_short_of_a_clean_page_proof_reads_the_whole_list(
    ui: FakeUI, page_reads: int
) -> None:
    result = removal(ui)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED and result.proof == "roster"
    assert (ui.page_reads, ui.reads, len(ui.clicks)) == (page_reads, 1, 1)


def test_a_lost_banner_is_proven_on_the_row_page_read_beside_the_page() -> None:
    ui = ui_of(script={TARGET: [Click("lost", held=asyncio.Event())]})
    result = removal(ui, early_read_s=0.01)
    assert result.outcome.status is OutcomeStatus.DEACTIVATED and result.proof == "page"
    assert (ui.page_reads, ui.reads, len(ui.clicks)) == (1, 0, 1)


def test_a_lost_banner_on_a_click_that_did_nothing_stays_unknown_and_is_not_clicked_again() -> None:
    lost = asyncio.Event()
    ui = ui_of(script={TARGET: [Click("lost", takes_effect=False, held=lost)]})
    ui.after_read_beside = lost.set  # the page gives up waiting once the beside read is done
    result = removal(ui, early_read_s=0.01)
    assert result.outcome.status is OutcomeStatus.UNKNOWN and len(ui.clicks) == 1
    # The page beside still showed the row: no full read beside (it could not prove it
    # either); the verdict's own full read decides.
    assert (ui.page_reads, ui.reads_beside, ui.reads) == (1, 1, 1)
