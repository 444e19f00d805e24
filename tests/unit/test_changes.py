"""The roster diff and the confidence gate: pure functions on MemberLists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.changes import (
    Change,
    ChangeKind,
    confidence_problem,
    count_by_kind,
    diff,
)
from connector.models import Account, Member, MemberList, Role, Status

ADMIN = Member(
    email="admin@example.com",
    name="Ada",
    role=Role.ADMINISTRATOR,
    status=Status.ACTIVE,
    is_self=True,
)


def person(email: str, **fields: object) -> Member:
    values: dict[str, object] = {
        "email": email,
        "name": email.split("@")[0].title(),
        "role": Role.GENERAL_USER,
        "status": Status.ACTIVE,
    }
    values.update(fields)
    return Member.model_validate(values)


def roster(*members: Member) -> MemberList:
    return MemberList(
        account=Account(client_id=116078),
        members=[ADMIN, *members],
        scraped_at=datetime(2025, 1, 1, tzinfo=UTC),
        pages=1,
        source_url="https://app.example/members",
        selectors_version="1",
    )


def kinds(changes: list[Change]) -> list[tuple[ChangeKind, str | None]]:
    return [(c.kind, c.email) for c in changes]


def test_same_members_in_another_order_is_no_change() -> None:
    a, b = person("a@example.com"), person("b@example.com")
    assert diff(roster(a, b), roster(b, a)) == []


def test_every_kind_of_change_in_one_diff() -> None:
    before = roster(
        person("stays@example.com"),
        person("leaves@example.com", role=Role.ADMINISTRATOR),
        person("promoted@example.com"),
        person("invited@example.com", name=None, status=Status.PENDING),
        person("offboarded@example.com"),
        person("returns@example.com", status=Status.DEACTIVATED),
        person("billing@example.com", invoice_admin=True),
    )
    after = roster(
        person("stays@example.com"),
        person("promoted@example.com", role=Role.ADMINISTRATOR),
        person("invited@example.com", name="Ivy New", status=Status.ACTIVE),
        person("offboarded@example.com", status=Status.DEACTIVATED),
        person("returns@example.com"),
        person("billing@example.com"),
        person("newbie@example.com", status=Status.PENDING, name=None, invoice_admin=True),
    )
    changes = diff(before, after)
    assert kinds(changes) == [
        (ChangeKind.JOINED, "newbie@example.com"),
        (ChangeKind.LEFT, "leaves@example.com"),
        (ChangeKind.ROLE_CHANGED, "promoted@example.com"),
        (ChangeKind.INVITE_ACCEPTED, "invited@example.com"),
        (ChangeKind.DEACTIVATED, "offboarded@example.com"),
        (ChangeKind.STATUS_CHANGED, "returns@example.com"),
        (ChangeKind.INVOICE_ADMIN_MOVED, "newbie@example.com"),
    ]
    by_kind = {c.kind: c for c in changes}
    assert (by_kind[ChangeKind.ROLE_CHANGED].before, by_kind[ChangeKind.ROLE_CHANGED].after) == (
        "General User",
        "Administrator",
    )
    accepted = by_kind[ChangeKind.INVITE_ACCEPTED]
    assert (accepted.before, accepted.after) == ("pending", "active")
    assert accepted.member is not None and accepted.member.name == "Ivy New"
    left = by_kind[ChangeKind.LEFT]
    assert left.member is not None and left.member.role == Role.ADMINISTRATOR  # as it was
    moved = by_kind[ChangeKind.INVOICE_ADMIN_MOVED]
    assert (moved.before, moved.after) == ("billing@example.com", "newbie@example.com")
    counts = count_by_kind(changes)
    assert set(counts) == set(ChangeKind) and all(n == 1 for n in counts.values())


def test_role_and_status_change_of_one_member_are_two_changes() -> None:
    before = roster(person("x@example.com", status=Status.PENDING, name=None))
    after = roster(person("x@example.com", role=Role.ADMINISTRATOR))
    assert kinds(diff(before, after)) == [
        (ChangeKind.ROLE_CHANGED, "x@example.com"),
        (ChangeKind.INVITE_ACCEPTED, "x@example.com"),
    ]


def test_invoice_admin_holder_changing_role_is_not_a_move() -> None:
    before = roster(person("bill@example.com", invoice_admin=True))
    after = roster(person("bill@example.com", invoice_admin=True, role=Role.ADMINISTRATOR))
    assert kinds(diff(before, after)) == [(ChangeKind.ROLE_CHANGED, "bill@example.com")]


def test_invoice_admin_leaving_moves_it_to_nobody() -> None:
    before = roster(person("bill@example.com", invoice_admin=True))
    changes = diff(before, roster())
    assert kinds(changes) == [
        (ChangeKind.LEFT, "bill@example.com"),
        (ChangeKind.INVOICE_ADMIN_MOVED, "bill@example.com"),
    ]
    assert (changes[1].before, changes[1].after) == ("bill@example.com", None)


def test_count_by_kind_has_every_kind() -> None:
    assert count_by_kind([]) == dict.fromkeys(ChangeKind, 0)


def team(n: int, prefix: str = "p") -> list[Member]:
    return [person(f"{prefix}{i}@example.com") for i in range(n)]


@pytest.mark.parametrize(
    ("lost", "gated"),
    [(0, False), (2, False), (3, False), (4, True), (9, True)],
)
def test_gate_on_the_share_of_the_last_roster_that_is_missing(lost: int, gated: bool) -> None:
    people = team(9)  # with the admin: 10 members
    before, after = roster(*people), roster(*people[lost:])
    problem = confidence_problem(before, after, max_drop=0.3)
    assert (problem is not None) == gated
    if gated:
        assert f"{lost} of the 10 members" in (problem or "") or "signed-in user alone" in (
            problem or ""
        )


def test_joiners_do_not_hide_leavers() -> None:
    before = roster(*team(9))
    after = roster(*team(9, prefix="other"))  # same size, nobody in common but the admin
    assert "9 of the 10 members" in (confidence_problem(before, after, max_drop=0.3) or "")


def test_only_the_signed_in_user_after_a_larger_roster() -> None:
    problem = confidence_problem(roster(person("a@example.com")), roster(), max_drop=1.0)
    assert problem is not None and "signed-in user alone" in problem
    assert confidence_problem(roster(), roster(), max_drop=0.0) is None


def test_growth_and_max_drop_one_are_never_gated() -> None:
    assert confidence_problem(roster(), roster(*team(50)), max_drop=0.0) is None
    assert confidence_problem(roster(*team(9)), roster(*team(1)), max_drop=1.0) is None
