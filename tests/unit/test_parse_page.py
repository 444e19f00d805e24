"""parse_page: raw tables in, validated members out, read by meaning; loud errors for anything odd.

The raw shape is what extract.js returns: per cell, the visible text as tokens (one per element),
mailto: links, and the few structural facts. The browser side is proven by the replay, drift
corpus and e2e tests; here every reading rule is pinned without a browser.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from connector.errors import PageNotRecognised
from connector.models import Role, Status
from connector.selector_set import load_selectors
from connector.stitch.read_page import RawPage, norm, parse_page

SEL = load_selectors()
HEADERS = ["Name", "Email", "Role", "Status", "Actions"]


def cell(*tokens: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    toks = [t if isinstance(t, dict) else {"t": t, "raw": t} for t in tokens]
    return {"tokens": toks, **extra}


def row(
    name: str | None,
    email: str,
    role: str = "General User",
    status: str = "Active",
    *,
    invoice: bool = False,
    you: bool = False,
    select: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    name_tokens: list[str | dict[str, Any]] = [name or "—"]
    if you:
        name_tokens.append("(You)")
    role_tokens: list[str | dict[str, Any]] = [
        {"t": role, "raw": role, "select": True} if select else role
    ]
    if invoice:
        role_tokens.append("Invoice Admin")
    return {
        "cells": [
            cell(*name_tokens, name_text=name if name is not None else "—"),
            cell(email, email_text=[email] if email else None),
            cell(*role_tokens),
            cell(status),
            cell("⋮"),
        ],
        **extra,
    }


def table(rows: list[dict[str, Any]], headers: list[str] = HEADERS, **extra: Any) -> dict[str, Any]:
    return {"headers": [{"tokens": [h] if h else []} for h in headers], "rows": rows, **extra}


def page(
    rows: list[dict[str, Any]], *, tables: list[dict[str, Any]] | None = None, **extra: Any
) -> RawPage:
    tables = tables if tables is not None else [table(rows)]
    count = sum(len(t["rows"]) for t in tables)
    data: dict[str, Any] = {
        "url": "http://x/client/1/pipeline/v2/settings/members",
        "container_found": True,
        "tables": tables,
        "texts": ["Members", f"{count} members"],
        "count_texts": [f"{count} members"],
        "next_present": False,
        "next_enabled": False,
        "empty_state": False,
        "loading": False,
    }
    data.update(extra)
    return RawPage.model_validate(data)


def loud(raw: RawPage, message: str, element: str | None = None) -> PageNotRecognised:
    with pytest.raises(PageNotRecognised, match=message) as info:
        parse_page(raw, SEL, None)
    if element is not None:
        assert info.value.element == element
    return info.value


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
    base = row("Ana", "ana@example.com")
    shuffled = {**base, "cells": [base["cells"][i] for i in (1, 3, 0, 2)]}
    raw = page([], tables=[table([shuffled], ["Email Address", "Status", "Name", "Role"])])
    raw = raw.model_copy(update={"texts": ["1 members"], "count_texts": []})
    (member,) = parse_page(raw, SEL, login_email="ana@example.com").members
    assert (member.email, member.name, member.is_self) == ("ana@example.com", "Ana", True)


@pytest.mark.parametrize(
    "headers",
    [
        ["NAME", "EMAIL", "ROLE", "STATUS", ""],  # upper-cased
        ["Name ▲", "Email ⇅", "Role", "Status:", ""],  # sort glyphs and punctuation
        ["Name", "Email address", "Role", "Status", "Actions"],  # case of a word
    ],
)
def test_headers_are_read_by_meaning(headers: list[str]) -> None:
    raw = page([], tables=[table([row("Ana", "ana@example.com")], headers)])
    raw = raw.model_copy(update={"texts": ["1 members"]})
    assert [m.email for m in parse_page(raw, SEL, None).members] == ["ana@example.com"]


def test_a_header_with_a_sort_button_and_hidden_words_still_means_its_column() -> None:
    headers = [
        {"tokens": ["Name", "sorted ascending"]},
        {"tokens": ["Email"]},
        {"tokens": ["Role"]},
        {"tokens": ["Status"]},
        {"tokens": []},
    ]
    raw = page([row("Ana", "ana@example.com")])
    raw = raw.model_copy(
        update={
            "tables": [
                raw.tables[0].model_copy(update={"headers": [h for h in raw.tables[0].headers[:0]]})
            ]
        }
    )
    data = raw.model_dump()
    data["tables"][0]["headers"] = headers
    assert parse_page(RawPage.model_validate(data), SEL, None).members[0].name == "Ana"


def test_two_headers_that_could_be_one_column_are_loud() -> None:
    raw = page(
        [],
        tables=[
            table([row("Ana", "ana@example.com")], ["Name", "Email", "Role", "Status", "Status"])
        ],
    )
    loud(raw, "two columns could be 'status'", "extract.columns.status")


def test_legacy_role_label_maps_to_administrator() -> None:
    (member,) = parse_page(
        page([row("Old", "old@example.com", "SSO Admin", select=False)]), SEL, None
    ).members
    assert member.role is Role.ADMINISTRATOR


def test_hostile_names_are_kept_as_text() -> None:
    names = ['<script>alert("x")</script>', "Robert'); DROP TABLE--", "🦄" * 50, "x" * 200, "(You)"]
    rows = [row(n, f"u{i}@example.com") for i, n in enumerate(names)]
    members = parse_page(page(rows), SEL, None).members
    assert [m.name for m in members] == names
    assert not any(m.is_self for m in members)  # a member named "(You)" is not the viewer


def test_names_without_their_class_come_from_the_first_words_of_the_cell() -> None:
    r = row("Ana  de  Vries", "ana@example.com", you=True)
    r["cells"][0] = cell({"t": "Ana de Vries", "raw": "Ana  de  Vries"}, "You")
    (member,) = parse_page(page([r]), SEL, None).members
    assert (member.name, member.is_self) == ("Ana  de  Vries", True)


# ---------------------------------------------------------------- emails


def test_a_badge_next_to_the_email_is_a_separate_word() -> None:
    r = row("Ana", "ana@example.com")
    r["cells"][1] = cell("ana@example.com", "New")
    assert parse_page(page([r]), SEL, None).members[0].email == "ana@example.com"


def test_the_mailto_link_is_the_most_specific_source() -> None:
    r = row("Ana", "ana@example.com")
    r["cells"][1] = cell(
        "Ana@Example.com", {"t": "Copy", "raw": "Copy", "icon": True}, mailto=["ana@example.com"]
    )
    assert parse_page(page([r]), SEL, None).members[0].email == "ana@example.com"


@pytest.mark.parametrize(
    ("tokens", "extra", "message"),
    [
        (["ana@example.com2fa"], {}, "not a whole email address"),
        (["ana@example.orgADMIN"], {}, "not a whole email address"),
        (["ana@example.c…"], {}, "not a whole email address"),
        (["ana@exam..."], {}, "not a whole email address"),
        (["ana@example.com", "bob@example.com"], {}, "more than one address"),
        (["ana@example.com"], {"mailto": ["bob@example.com"]}, "but also"),
        (["Ana"], {}, "no email address"),
    ],
)
def test_an_email_that_is_not_whole_and_alone_is_loud(
    tokens: list[str], extra: dict[str, Any], message: str
) -> None:
    r = row("Ana", "ana@example.com")
    r["cells"][1] = cell(*tokens, **extra)
    loud(page([r]), message, "extract.email")


def test_the_row_attribute_must_agree_with_the_email_shown() -> None:
    r = row("Ana", "ana@example.co", data_email="ana@example.com")
    loud(page([r]), "the row is for 'ana@example.com'", "extract.email")


def test_name_and_email_in_one_member_column() -> None:
    r = {"cells": [cell("Ana", "ana@example.com", "You"), cell("Administrator"), cell("Active")]}
    raw = page([], tables=[table([r], ["Member", "Role", "Status"])]).model_copy(
        update={"texts": ["1 member"]}
    )
    (member,) = parse_page(raw, SEL, None).members
    assert (member.name, member.email, member.is_self) == ("Ana", "ana@example.com", True)


# ---------------------------------------------------------------- the Invoice Admin


def test_invoice_admin_by_its_text_wherever_it_sits() -> None:
    r = row("Ana", "ana@example.com")
    r["cells"][0] = cell("Ana", "Invoice Admin", name_text="Ana")
    assert parse_page(page([r]), SEL, None).members[0].invoice_admin


def test_invoice_admin_switch_reads_its_state() -> None:
    rows = [row("Ana", "ana@example.com"), row("Bob", "bob@example.com")]
    rows[0]["cells"][4] = cell({"t": "Invoice Admin", "raw": "Invoice Admin", "c": True})
    rows[1]["cells"][4] = cell({"t": "Invoice Admin", "raw": "Invoice Admin", "c": False})
    assert [m.invoice_admin for m in parse_page(page(rows), SEL, None).members] == [True, False]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (cell("✓"), True),
        (cell("Yes"), True),
        (cell(), False),
        (cell("—"), False),
        (cell(checked=True), True),
        (cell(checked=False), False),
    ],
)
def test_invoice_admin_column(value: dict[str, Any], expected: bool) -> None:
    r = row("Ana", "ana@example.com")
    r["cells"].insert(4, value)
    raw = page([], tables=[table([r], ["Name", "Email", "Role", "Status", "Invoice Admin", ""])])
    raw = raw.model_copy(update={"texts": ["1 member"]})
    assert parse_page(raw, SEL, None).members[0].invoice_admin is expected


def test_an_invoice_admin_cell_that_says_something_else_is_loud() -> None:
    r = row("Ana", "ana@example.com")
    r["cells"].insert(4, cell("Maybe"))
    raw = page([], tables=[table([r], ["Name", "Email", "Role", "Status", "Invoice Admin", ""])])
    loud(
        raw.model_copy(update={"texts": ["1 member"]}),
        "Invoice Admin cell",
        "extract.invoice_admin",
    )


# ---------------------------------------------------------------- tables and sections


def test_every_member_table_of_the_area_is_read_and_unrelated_tables_are_not() -> None:
    members = table([row("Ana", "ana@example.com")])
    invites = table(
        [{"cells": [cell("new@example.com"), cell("General User"), cell("Resend")]}],
        ["Email", "Role", ""],
        section="Invited, awaiting acceptance",
    )
    keys = table(
        [{"cells": [cell("…a1b2"), cell("CI"), cell("Enabled")]}], ["Key", "Description", "Status"]
    )
    raw = page([], tables=[members, keys, invites]).model_copy(
        update={"texts": ["2 members"], "count_texts": []}
    )
    got = [(m.email, m.status) for m in parse_page(raw, SEL, None).members]
    assert got == [("ana@example.com", Status.ACTIVE), ("new@example.com", Status.PENDING)]


def test_a_section_that_is_not_invitations_needs_its_status_column() -> None:
    other = table(
        [{"cells": [cell("x@example.com"), cell("General User")]}],
        ["Email", "Role"],
        section="Guests",
    )
    raw = page([], tables=[table([row("Ana", "ana@example.com")]), other])
    loud(
        raw.model_copy(update={"texts": ["2 members"]}),
        "no status column",
        "extract.columns.status",
    )


def test_a_headerless_table_of_addresses_is_loud() -> None:
    raw = page([row("Ana", "ana@example.com")])
    data = raw.model_dump()
    data["tables"][0]["headers"] = []
    loud(RawPage.model_validate(data), "without a header row", "extract.header_cell")


def test_a_message_row_across_the_table_is_skipped_but_a_short_row_of_a_member_is_not() -> None:
    note = {"cells": [cell("No pending invitations", colspan=5)]}
    assert len(parse_page(page([row("Ana", "ana@example.com"), note]), SEL, None).members) == 1
    short = {"cells": [cell("Bob"), cell("bob@example.com")]}
    loud(
        page([row("Ana", "ana@example.com"), short]),
        "row 2 has 2 cells for 5 columns",
        "extract.cell",
    )


def test_cells_are_placed_by_aria_colindex_when_every_cell_has_one() -> None:
    r = row("Ana", "ana@example.com")
    for i, c in enumerate(r["cells"], start=1):
        c["colindex"] = i
    r["cells"] = list(reversed(r["cells"]))
    data = page([r]).model_dump()
    for i, h in enumerate(data["tables"][0]["headers"], start=1):
        h["colindex"] = i
    (member,) = parse_page(RawPage.model_validate(data), SEL, None).members
    assert (member.name, member.email) == ("Ana", "ana@example.com")


def test_a_row_with_no_text_is_a_placeholder_and_loud() -> None:
    empty = {"cells": [cell() for _ in HEADERS]}
    loud(page([row("Ana", "ana@example.com"), empty]), "no text", "extract.loading")


# ---------------------------------------------------------------- counts and pages


@pytest.mark.parametrize(
    ("change", "message", "element"),
    [
        ({"container_found": False}, "members area", "members_container"),
        ({"tables": []}, "no member table", "extract.table"),
        ({"loading": True}, "still loading", "extract.loading"),
        (
            {"texts": ["3 members"], "count_texts": ["1 members"]},
            "different member counts",
            "extract.member_count",
        ),
        (
            {"texts": ["Page 1 of 3"], "next_enabled": False},
            "disagrees with the Next",
            "extract.next_button",
        ),
        ({"texts": ["1 member", "1–50 of 120"]}, "different member counts", "extract.member_count"),
        (
            {"texts": ["Page 1 of 3", "Page 2 of 3"], "next_enabled": True},
            "two different positions",
            "extract.page_status",
        ),
    ],
)
def test_page_that_is_not_the_member_list_raises(
    change: dict[str, Any], message: str, element: str
) -> None:
    raw = page([row("Ana", "ana@example.com")]).model_copy(update=change)
    loud(raw, re.escape(message), element)


def test_counts_and_ranges_are_read_wherever_they_are_shown() -> None:
    rows = [row(f"U{i}", f"u{i}@example.com") for i in range(50)]
    raw = page(rows, texts=["Showing 51–100 of 120 members"], count_texts=[], next_enabled=True)
    parsed = parse_page(raw, SEL, None)
    assert (parsed.member_count, parsed.first_row, parsed.has_next) == (120, 51, True)
    raw = page(rows, texts=["Members (120)", "Page 2 of 3"], count_texts=[], next_enabled=True)
    parsed = parse_page(raw, SEL, None)
    assert (parsed.member_count, parsed.page_number, parsed.page_total) == (120, 2, 3)


@pytest.mark.parametrize(
    ("texts", "rows", "next_enabled", "edges"),
    [
        (["Page 1 of 3"], 50, True, (True, False)),
        (["Page 3 of 3"], 20, False, (False, True)),
        (["Page 1 of 1"], 20, False, (True, True)),
        (["Page 2 of 3"], 50, True, (False, False)),
        (["1–50 of 120"], 50, True, (True, False)),
        (["101–120 of 120"], 20, False, (False, True)),
        (["51–100 of 120"], 50, True, (False, False)),
        ([], 50, True, (False, False)),  # nothing says where this page is
        ([], 20, False, (False, False)),  # a disabled Next alone says nothing
        ([], 120, False, (True, True)),  # every member the list counts: the whole list
    ],
)
def test_a_page_says_it_is_the_first_or_last_only_by_stating_its_place(
    texts: list[str], rows: int, next_enabled: bool, edges: tuple[bool, bool]
) -> None:
    members = [row(f"U{i}", f"u{i}@example.com") for i in range(rows)]
    counted = [*texts, "120 members"]
    parsed = parse_page(
        page(members, texts=counted, count_texts=[], next_enabled=next_enabled), SEL, None
    )
    assert (parsed.says_first_page, parsed.says_last_page) == edges


def test_a_range_that_does_not_match_the_rows_is_loud() -> None:
    raw = page(
        [row("Ana", "ana@example.com")], texts=["1–50 of 120"], count_texts=[], next_enabled=True
    )
    loud(raw, "rows 1–50 but shows 1", "extract.row")


@pytest.mark.parametrize(
    ("bad_row", "message", "element"),
    [
        (row("Ana", "a@example.com", role="Owner"), "unknown role label 'Owner'", "extract.role"),
        (
            row("Ana", "a@example.com", status="Suspended"),
            "unknown status label 'Suspended'",
            "extract.status",
        ),
    ],
)
def test_bad_rows_raise_with_the_row_number(
    bad_row: dict[str, Any], message: str, element: str
) -> None:
    raw = page([row("Ok", "ok@example.com"), bad_row])
    loud(raw, f"row 2.*{message}", element)


def test_two_roles_in_one_cell_are_loud() -> None:
    r = row("Ana", "a@example.com", select=False)
    r["cells"][2] = cell("Administrator", "General User")
    loud(page([r]), "more than one role", "extract.role")


def test_duplicate_email_on_one_page_raises() -> None:
    raw = page([row("A", "a@example.com"), row("B", "A@example.com")])
    loud(raw, "appears twice", "extract.row")


def test_substring_emails_are_distinct_members() -> None:
    members = parse_page(page([row("A", "a@x.com"), row("AA", "aa@x.com")]), SEL, "a@x.com").members
    assert [(m.email, m.is_self) for m in members] == [("a@x.com", True), ("aa@x.com", False)]


def test_missing_member_count_is_not_recognised_unless_allowed() -> None:
    raw = page([row("Ana", "ana@example.com")], texts=[], count_texts=[])
    loud(raw, "no member count", "extract.member_count")
    lenient = SEL.model_copy(
        update={
            "extract": SEL.extract.model_copy(
                update={"text": SEL.extract.text.model_copy(update={"require_member_count": False})}
            )
        }
    )
    assert parse_page(raw, lenient, None).member_count is None


def test_emails_asked_about_and_seen_in_the_text_are_reported() -> None:
    raw = page([row("Ana", "ana@example.com")], needles_found=["bob@example.com"])
    assert parse_page(raw, SEL, None).mentioned == frozenset({"bob@example.com"})


def test_norm_folds_case_glyphs_and_punctuation() -> None:
    assert norm("  E-MAIL ▲ ") == "e mail"
    assert norm("● Active") == "active"
    assert norm("Invitation\u00a0pending") == "invitation pending"


def test_a_cell_no_header_names_is_lined_up_by_what_the_cells_say() -> None:
    """A release adds a leading selection cell to every row but not to the header row."""
    rows = [row("Ana", "ana@example.com"), row("Bob", "bob@example.com", "Administrator")]
    for r in rows:
        r["cells"].insert(0, cell({"t": "Select row", "raw": "Select row", "icon": True}))
    (ana, bob) = parse_page(page(rows), SEL, None).members
    assert (ana.name, ana.email, bob.role) == ("Ana", "ana@example.com", Role.ADMINISTRATOR)


def test_extra_cells_that_fit_the_headers_two_ways_are_loud() -> None:
    same = cell("ana@example.com", "Administrator", "Active")
    r = {"cells": [same] * 6}
    raw = page([], tables=[table([r], ["Name", "Email", "Role", "Status", ""])])
    loud(raw, "line up with the headers in 2 ways", "extract.cell")


def test_a_header_over_two_cells_reads_both_and_skips_avatar_initials() -> None:
    r = row("Ana Bell", "ana@example.com")
    r["cells"][0] = cell("AB", "Ana Bell")
    r["cells"].insert(0, cell())  # an empty avatar frame
    data = page([r]).model_dump()
    data["tables"][0]["headers"][0]["colspan"] = 2
    (member,) = parse_page(RawPage.model_validate(data), SEL, None).members
    assert (member.name, member.email) == ("Ana Bell", "ana@example.com")
