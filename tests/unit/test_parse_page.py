"""parse_page: raw rows in, validated members out, and loud errors for anything odd."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connector.errors import PageNotRecognised
from connector.models import Role, Status
from connector.selector_set import load_selectors
from connector.stitch.members import RawPage, parse_page

SEL = load_selectors()
HEADERS = ["Name", "Email", "Role", "Status", "Actions"]


def row(
    name: str | None,
    email: str,
    role: str = "General User",
    status: str = "Active",
    *,
    invoice: bool = False,
    you: bool = False,
    select: bool = True,
) -> dict[str, Any]:
    return {
        "cells": [
            {"text": name or "—", "name_text": name if name is not None else "—"},
            {"text": email},
            {"text": role, "select_text": role if select else None},
            {"text": status},
            {"text": "⋮"},
        ],
        "invoice_admin": invoice,
        "self_marker": you,
    }


def page(rows: list[dict[str, Any]], **extra: Any) -> RawPage:
    data: dict[str, Any] = {
        "url": "http://x/client/1/pipeline/v2/settings/members",
        "table_found": True,
        "headers": HEADERS,
        "rows": rows,
        "member_count_text": f"{len(rows)} members",
        "page_status_text": None,
        "next_present": False,
        "next_enabled": False,
        "empty_state": False,
    }
    data.update(extra)
    return RawPage.model_validate(data)


def test_reads_every_field_and_normalises_email() -> None:
    parsed = parse_page(
        page(
            [
                row("Ana Admin", "Ana@Example.com", "Administrator", you=True, select=False),
                row("Zoë Ødegaard", "zoe@example.com", invoice=True),
                row(None, "new@example.com", status="Invitation pending"),
            ]
        ),
        SEL,
        login_email=None,
    )
    first, second, third = parsed.members
    assert (first.email, first.role, first.is_self) == ("ana@example.com", Role.ADMINISTRATOR, True)
    assert (second.name, second.invoice_admin, second.is_self) == ("Zoë Ødegaard", True, False)
    assert (third.name, third.status) == (None, Status.PENDING)
    assert parsed.member_count == 3 and parsed.has_next is False


def test_columns_are_found_by_header_not_position() -> None:
    raw = page([row("Ana", "ana@example.com")])
    shuffled = raw.model_copy(
        update={
            "headers": ["Email Address", "Status", "Name", "Role"],
            "rows": [
                raw.rows[0].model_copy(
                    update={
                        "cells": [
                            raw.rows[0].cells[1],
                            raw.rows[0].cells[3],
                            raw.rows[0].cells[0],
                            raw.rows[0].cells[2],
                        ]
                    }
                )
            ],
        }
    )
    (member,) = parse_page(shuffled, SEL, login_email="ana@example.com").members
    assert (member.email, member.name, member.is_self) == ("ana@example.com", "Ana", True)


def test_legacy_role_label_maps_to_administrator() -> None:
    (member,) = parse_page(
        page([row("Old", "old@example.com", "SSO Admin", select=False)]), SEL, None
    ).members
    assert member.role is Role.ADMINISTRATOR


def test_hostile_names_are_kept_as_text() -> None:
    names = ['<script>alert("x")</script>', "Robert'); DROP TABLE--", "🦄" * 50, "x" * 200]
    rows = [row(n, f"u{i}@example.com") for i, n in enumerate(names)]
    assert [m.name for m in parse_page(page(rows), SEL, None).members] == names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table_found": False}, "no member table"),
        ({"rows": []}, "no rows"),
        ({"headers": ["Name", "E-mail", "Role", "Status"]}, "columns ['email'] not found"),
        ({"member_count_text": "lots of members"}, "cannot read a number"),
        ({"page_status_text": "Page 1 of 3", "next_enabled": False}, "disagrees with the Next"),
    ],
)
def test_page_that_is_not_the_member_list_raises(change: dict[str, Any], message: str) -> None:
    raw = page([row("Ana", "ana@example.com")]).model_copy(update=change)
    with pytest.raises(PageNotRecognised, match=re.escape(message)):
        parse_page(raw, SEL, None)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (row("Ana", ""), "email"),
        (row("Ana", "not-an-email"), "email"),
        (row("Ana", "a@example.com", role="Owner"), "unknown role label 'Owner'"),
        (row("Ana", "a@example.com", status="Suspended"), "unknown status label 'Suspended'"),
        ({**row("Ana", "a@example.com"), "cells": [{"text": "Ana"}]}, "fewer than the headers"),
    ],
)
def test_bad_rows_raise_with_the_row_number(bad_row: dict[str, Any], message: str) -> None:
    raw = page([row("Ok", "ok@example.com"), bad_row])
    with pytest.raises(PageNotRecognised, match=f"row 2.*{message}|{message}"):
        parse_page(raw, SEL, None)


def test_duplicate_email_on_one_page_raises() -> None:
    raw = page([row("A", "a@example.com"), row("B", "A@example.com")])
    with pytest.raises(PageNotRecognised, match="appears twice"):
        parse_page(raw, SEL, None)


def test_substring_emails_are_distinct_members() -> None:
    members = parse_page(page([row("A", "a@x.com"), row("AA", "aa@x.com")]), SEL, "a@x.com").members
    assert [(m.email, m.is_self) for m in members] == [("a@x.com", True), ("aa@x.com", False)]


def test_missing_member_count_is_not_recognised_unless_allowed() -> None:
    raw = page([row("Ana", "ana@example.com")], member_count_text=None)
    with pytest.raises(PageNotRecognised, match="no member count"):
        parse_page(raw, SEL, None)
    lenient = SEL.model_copy(
        update={
            "extract": SEL.extract.model_copy(
                update={"text": SEL.extract.text.model_copy(update={"require_member_count": False})}
            )
        }
    )
    assert parse_page(raw, lenient, None).member_count is None
