"""Cross-checks on a whole read: invariants of any account, and agreement with the last
accepted roster. A read that fails them is loud (PageNotRecognised naming the element)."""

from __future__ import annotations

import pytest

from connector.crosscheck import check_roster
from connector.errors import PageNotRecognised
from connector.models import Member, Role, Status
from connector.selector_set import Invariants

A, G = Role.ADMINISTRATOR, Role.GENERAL_USER
RULES = Invariants()


def m(email: str, role: Role = G, status: Status = Status.ACTIVE, **kw: bool) -> Member:
    return Member(email=email, name=email.split("@")[0], role=role, status=status, **kw)


TEAM = [
    m("me@corp.com", A, is_self=True),
    m("pay@corp.com", invoice_admin=True),
    m("bob@corp.com"),
    m("ann@corp.com"),
]


def check(members: list[Member], previous: list[Member] | None = None) -> None:
    check_roster(members, login_email="me@corp.com", previous=previous, invariants=RULES)


def loud(members: list[Member], previous: list[Member] | None, message: str, element: str) -> None:
    with pytest.raises(PageNotRecognised, match=message) as info:
        check(members, previous)
    assert info.value.element == element


def test_a_consistent_read_passes_with_and_without_history() -> None:
    check(TEAM)
    check(TEAM, TEAM)
    check([*TEAM, m("new@corp.com")], TEAM)  # a joiner
    check([t for t in TEAM if t.email != "bob@corp.com"], TEAM)  # a leaver


def test_exactly_one_self_row_and_it_is_the_login() -> None:
    loud(
        [t.model_copy(update={"is_self": False}) for t in TEAM],
        None,
        "exactly one row",
        "extract.self_marker",
    )
    loud([*TEAM, m("x@corp.com", is_self=True)], None, "exactly one row", "extract.self_marker")
    with pytest.raises(PageNotRecognised, match=r"not bob@corp\.com"):
        check_roster(TEAM, login_email="bob@corp.com", previous=None, invariants=RULES)


def test_an_account_always_has_an_administrator() -> None:
    demoted = [t.model_copy(update={"role": G}) for t in TEAM]
    loud(demoted, None, "no active Administrator", "extract.role")


def test_more_than_one_invoice_admin_is_loud() -> None:
    everyone = [t.model_copy(update={"invoice_admin": True}) for t in TEAM]
    loud(everyone, None, "4 members read as the Invoice Admin", "extract.invoice_admin")


def test_the_invoice_admin_cannot_vanish_while_still_listed() -> None:
    unmarked = [t.model_copy(update={"invoice_admin": False}) for t in TEAM]
    check(unmarked)  # no history: a new account may have none
    loud(unmarked, TEAM, "still listed as active", "extract.invoice_admin")
    # The Invoice Admin left: no marker is expected any more.
    check([t for t in unmarked if t.email != "pay@corp.com"], TEAM)
    # It moved to someone else: one marker, consistent.
    moved = [t.model_copy(update={"invoice_admin": t.email == "ann@corp.com"}) for t in TEAM]
    check(moved, TEAM)


@pytest.mark.parametrize(
    "misread",
    [
        "bob@corp.com2fa",  # a badge run into the address (a valid-looking domain label)
        "bob@corp.comnew",
        "bob@corp.co",  # cut short
        "bob@corp.c",
    ],
)
def test_an_address_that_only_grew_or_lost_a_suffix_is_loud(misread: str) -> None:
    fresh = [m(misread) if t.email == "bob@corp.com" else t for t in TEAM]
    loud(fresh, TEAM, "replaces 'bob@corp.com'", "extract.email")


def test_a_different_address_is_a_leaver_and_a_joiner_not_a_misread() -> None:
    fresh = [m("rob@corp.com") if t.email == "bob@corp.com" else t for t in TEAM]
    check(fresh, TEAM)
