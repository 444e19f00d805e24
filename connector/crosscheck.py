"""Cross-checks on a full read of the member list: what must hold for any real Stitch account,
and what must agree with the last accepted roster. Pure functions; a failure is loud.

A read that passes every page check can still be wrong as a whole: a restyled badge reads as
"nobody is the Invoice Admin", a badge run into an address reads as a new member and a missing
one. These checks catch that kind of change before anything trusts the roster.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from connector.errors import PageNotRecognised
from connector.models import Member, Role, Status
from connector.selector_set import Invariants


def _fail(message: str, element: str) -> PageNotRecognised:
    return PageNotRecognised(
        f"member list not recognised: {message}",
        element=element,
        hint=(
            "The page read does not add up, which is far likelier a UI change than a real one. "
            "Run `stitch-connector doctor`, compare the saved screenshot with Stitch, then "
            "update selectors/stitch.toml (README, 'Stitch changed its UI')."
        ),
    )


def check_roster(
    members: Sequence[Member],
    *,
    login_email: str | None,
    previous: Sequence[Member] | None,
    invariants: Invariants,
) -> None:
    """Raise PageNotRecognised (naming the element) unless the read adds up."""
    selves = [m for m in members if m.is_self]
    if len(selves) != 1:
        raise _fail(
            f"expected exactly one row for the signed-in user, found {len(selves)}",
            "extract.self_marker",
        )
    if login_email and selves[0].email != login_email:
        raise _fail(
            f"the page marks {selves[0].email} as the signed-in user, not {login_email}",
            "extract.self_marker",
        )
    admins = [m for m in members if m.role is Role.ADMINISTRATOR and m.status is Status.ACTIVE]
    if len(admins) < invariants.min_administrators:
        raise _fail(
            f"no active Administrator was read among {len(members)} members (an account always "
            "has one)",
            "extract.role",
        )
    invoice = [m for m in members if m.invoice_admin]
    if len(invoice) > invariants.max_invoice_admins:
        raise _fail(
            f"{len(invoice)} members read as the Invoice Admin ({invoice[0].email}, "
            f"{invoice[1].email}, ...): an account has one",
            "extract.invoice_admin",
        )
    if previous is not None:
        _check_against(members, previous)


def _check_against(members: Sequence[Member], previous: Sequence[Member]) -> None:
    fresh = {m.email: m for m in members}
    before = {m.email: m for m in previous}
    was_invoice = [m for m in previous if m.invoice_admin]
    if was_invoice and not any(m.invoice_admin for m in members):
        holder = fresh.get(was_invoice[0].email)
        if holder is not None and holder.status is Status.ACTIVE:
            raise _fail(
                f"no row is marked Invoice Admin, yet {holder.email} (the Invoice Admin of the "
                "last accepted roster) is still listed as active",
                "extract.invoice_admin",
            )
    gone = sorted(e for e in before if e not in fresh)
    for email in (e for e in fresh if e not in before):
        near = _near(email, gone)
        if near is not None:
            raise _fail(
                f"{email!r} replaces {near!r} of the last accepted roster: one reads as the "
                "other cut short or with text run into it",
                "extract.email",
            )


def _near(email: str, gone: list[str]) -> str | None:
    """An address of `gone` (sorted) that `email` only extends or cuts short, if any."""
    index = bisect.bisect_left(gone, email)
    if index < len(gone) and gone[index].startswith(email):
        return gone[index]
    for end in range(len(email) - 1, email.index("@"), -1):
        position = bisect.bisect_left(gone, email[:end])
        if position < len(gone) and gone[position] == email[:end]:
            return gone[position]
    return None
