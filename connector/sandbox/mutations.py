"""The drift corpus: invented UI releases the sandbox can apply on top of any variant. [P]

Each mutation is a presentation change a SaaS front-end release could plausibly make to the
Members page, the sign-in pages, the signed-in chrome or the write dialogs. None imitates a known
Stitch release. Each is labelled by what a careful person reading the changed page would conclude:

- "exact": the page is still plainly readable, so the connector must read it exactly;
- "loud": the page became unreadable or ambiguous, so the connector must fail with a typed error.

Most transforms live in `static/mutations.js` (`window.StitchMutations`); the sign-in and app
interruptions also have server-side pieces in `web.py`, `app_origin.py` and the templates.
docs/sandbox-dom.md "Drift corpus" lists them all. Mutations never change the server's behaviour
(writes, counts, /__sandbox__/state), except that `signin-stay-signed-in` adds one page to the
sign-in flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pydantic

from connector.errors import ConfigError
from connector.sandbox.options import Variant

Area = Literal["list", "signin", "app", "dialog"]
Expect = Literal["exact", "loud"]


class Mutation(pydantic.BaseModel):
    """One invented UI change. `variant` is the UI variant the drift-corpus tests run it on."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    area: Area
    expect: Expect
    what: str
    variant: Variant


def _m(name: str, area: Area, expect: Expect, variant: Variant, what: str) -> Mutation:
    return Mutation(name=name, area=area, expect=expect, what=what, variant=variant)


_CORPUS: tuple[Mutation, ...] = (
    # ---------------------------------------------------------------- sign-in and app chrome
    _m("signin-cookie-consent", "signin", "exact", "current",
       "A cookie-consent dialog (Accept all / Reject all / Manage preferences) covers the sign-in "
       "pages of both origins until a choice is made; the choice is kept in a cookie."),
    _m("signin-stay-signed-in", "signin", "exact", "rbac2022",
       "After the password (and code), a 'Stay signed in?' page with Yes / No comes before the "
       "app; Yes only makes the session cookie persistent."),
    _m("signin-ids-renamed", "signin", "exact", "legacy",
       "Every id on the sign-in forms becomes a hashed name; input types, autocomplete, label "
       "texts and button texts stay."),
    _m("signin-button-relabelled", "signin", "exact", "current",
       "The email step's button says 'Next' and the password step's says 'Sign in'; the buttons "
       "lose their ids."),
    _m("app-whats-new", "app", "exact", "current",
       "A 'What's new in Stitch' announcement dialog (Got it / Close) covers the first signed-in "
       "page until it is dismissed."),
    # ---------------------------------------------------------------- member list: exact
    _m("list-hashed-class-names", "list", "exact", "current",
       "A CSS-modules build: every class inside the member list becomes a hashed name and the "
       "st-t- ids inside rows are gone."),
    _m("list-selection-checkbox-column", "list", "exact", "rbac2022",
       "A leading column of row-selection checkboxes (with a 'Select all' checkbox in the "
       "header)."),
    _m("list-last-signin-column", "list", "exact", "legacy",
       "A new 'Last sign-in' column after Status ('3 days ago', 'Never')."),
    _m("list-columns-reordered", "list", "exact", "current",
       "Columns reordered to Status, Name, Role, Email (headers and cells together)."),
    _m("list-headers-uppercase-icon", "list", "exact", "rbac2022",
       "Header texts upper-cased in the DOM ('EMAIL') and followed by an aria-hidden info icon."),
    _m("list-status-dot", "list", "exact", "legacy",
       "Status shown as '● Active': a coloured aria-hidden dot before the label."),
    _m("list-you-chip", "list", "exact", "current",
       "The '(You)' marker becomes a 'You' chip glued to the name (no space between them)."),
    _m("list-email-mailto-copy", "list", "exact", "rbac2022",
       "Emails become mailto: links followed by an icon-only 'Copy email address' button."),
    _m("list-email-new-chip", "list", "exact", "current",
       "A 'New' chip right after some emails, in the same cell with no whitespace between the "
       "elements."),
    _m("list-cell-wrappers", "list", "exact", "legacy",
       "Every cell's content wrapped in extra div/span layers with a title and a hidden "
       "role=tooltip copy of the text."),
    _m("list-aria-grid", "list", "exact", "rbac2022",
       "The <table> rebuilt as divs with role=grid / row / columnheader / gridcell and no "
       "classes the old markup had."),
    _m("list-ul-rows", "list", "exact", "legacy",
       "The list rebuilt as <ul role=table> with <li role=row> rows and <span role=cell> cells."),
    _m("list-hidden-mobile-cards", "list", "exact", "current",
       "A display:none 'mobile' card layout duplicating every row sits before the table."),
    _m("list-api-keys-table", "list", "exact", "rbac2022",
       "An unrelated 'API keys' table (Key / Description / Created / Status), built with the "
       "same table component, follows the members inside the list area."),
    _m("list-invited-section", "list", "exact", "current",
       "Pending invitations move to a second table under 'Invited — awaiting acceptance'; the "
       "count still covers both."),
    _m("list-aria-busy-placeholders", "list", "exact", "rbac2022",
       "For about a second the table shows grey placeholder rows (aria-busy) and no count "
       "before the real rows replace them."),
    _m("list-count-late", "list", "exact", "legacy",
       "The member count is written about 0.8 s after the rows."),
    _m("list-range-status", "list", "exact", "current",
       "The pagination label reads 'Showing 51–60 of 60 members' instead of 'Page 2 of 2'."),
    _m("list-next-chevron-link", "list", "exact", "rbac2022",
       "Previous/Next become <a role=button aria-label='Next page'>›</a> links without ids."),
    _m("list-invoice-admin-column", "list", "exact", "legacy",
       "The Invoice Admin marker moves to its own 'Invoice Admin' column with a ✓ on the one "
       "row."),
    _m("list-invoice-admin-switch", "list", "exact", "current",
       "The Invoice Admin marker becomes a per-row switch (role=switch) checked only on the "
       "Invoice Admin's row."),
    _m("list-role-listbox", "list", "exact", "rbac2022",
       "The role <select> becomes a listbox button showing the role, with a hidden option list."),
    _m("list-email-under-name", "list", "exact", "current",
       "The name cell shows the email again, in small grey text under the name."),
    _m("list-status-pending-short", "list", "exact", "rbac2022",
       "The pending status label shortens from 'Invitation pending' to 'Pending'."),
    # ---------------------------------------------------------------- member list: loud
    _m("list-email-ellipsis", "list", "loud", "current",
       "Long emails are cut in the text itself ('dorothee.lindqvi…'), with no full copy left."),
    _m("list-email-role-suffix", "list", "loud", "rbac2022",
       "Administrators' emails carry 'ADMIN' in the same text node ('ana@example.comADMIN')."),
    _m("list-emails-masked", "list", "loud", "rbac2022",
       "Emails are masked for privacy ('a•••••@example.com')."),
    _m("list-invoice-marker-renamed", "list", "loud", "legacy",
       "The Invoice Admin tag now says 'Tier 2': no row says Invoice Admin any more."),
    _m("list-invoice-marker-every-row", "list", "loud", "current",
       "Every row carries the same 'Invoice Admin' pill, with no on/off state."),
    _m("list-status-icons-only", "list", "loud", "rbac2022",
       "Status is a bare glyph (●, ◐) with no text, label or legend."),
    _m("list-count-removed", "list", "loud", "legacy",
       "The member count is gone from the page."),
    _m("list-count-mismatch", "list", "loud", "current",
       "The count says 7 more members than the list holds."),
    _m("list-header-row-removed", "list", "loud", "rbac2022",
       "The header row is gone: no column says what it holds."),
    _m("list-roles-owner-member", "list", "loud", "legacy",
       "Role labels renamed to 'Owner' and 'Member'."),
    _m("list-virtualised-first-20", "list", "loud", "current",
       "A virtualised list: only the first 20 rows of the page are ever drawn, above an empty "
       "spacer."),
    _m("list-skeleton-forever", "list", "loud", "rbac2022",
       "Placeholder rows (aria-busy) replace the spinner and never turn into data."),
    _m("list-you-on-two-rows", "list", "loud", "current",
       "The '(You)' marker appears on two rows."),
    # ---------------------------------------------------------------- write dialogs and menus
    _m("dialog-email-omitted", "dialog", "loud", "current",
       "The Deactivate confirm dialog no longer names the member: 'Deactivate this team member?'."),
    _m("dialog-deactivate-relabelled", "dialog", "loud", "rbac2022",
       "The Deactivate menu item (legacy: row button) says 'Remove user'."),
    _m("dialog-buttons-reversed", "dialog", "exact", "legacy",
       "The confirm button comes first and says 'Yes, deactivate' ('Yes, cancel invitation')."),
    _m("dialog-type-to-confirm", "dialog", "exact", "current",
       "The confirm button stays disabled until the member's email is typed into the dialog."),
)  # fmt: skip

MUTATIONS: dict[str, Mutation] = {m.name: m for m in _CORPUS}


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """The names as a tuple (duplicates dropped, order kept); ConfigError on an unknown one."""
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in MUTATIONS:
            valid = ", ".join(sorted(MUTATIONS))
            raise ConfigError(f"unknown sandbox mutation {name!r}; valid names: {valid}")
        if name not in checked:
            checked.append(name)
    return tuple(checked)
