"""Proof of a removal from the one list page the row was on, instead of every page (pure).

After a click, the full roster read is the proof; but only the page where the row was can
have changed, so one fresh page may prove as much. It does only when what it shows leaves no
other reading: the list's own count is exactly one less (or the same, with the row shown
Deactivated in place), the page's rows are an unbroken run of the roster we predict, the
row's two former neighbours now sit side by side on it, and the address is nowhere in its
text. The list's own first or last row has one neighbour only; there the list's edge stands in
for the other, and only a page that says it is the first or last page ("Page 3 of 3", "101–120
of 120", held against the Next button when read; or every member the list counts) shows that
edge. Anything else is inconclusive (None), and the caller reads the whole list as before.
The roster it returns is that prediction: exactly what a full read would have returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connector.models import Member, MemberList, Status


@dataclass(frozen=True)
class ShownPage:
    """One list page, read fresh on its own."""

    members: list[Member]
    count: int | None  # the member count the page states, if it states one
    first_row: int | None  # 1-based position of its first row ("51–100 of 120"), if stated
    mentioned: frozenset[str]  # the asked-about emails its text shows anywhere
    first_page: bool = False  # the page states it is the list's first ("Page 1 of 3")
    last_page: bool = False  # ... or its last ("Page 3 of 3", "101–120 of 120")


def proven_on_page(before: MemberList, email: str, shown: ShownPage) -> MemberList | None:
    """The roster after removing `email` from `before`, if `shown` proves it; else None."""
    index = next((i for i, m in enumerate(before.members) if m.email == email), None)
    if index is None or shown.count is None or not shown.members:
        return None
    in_place = _deactivated_in_place(before, index, shown)
    if in_place is not None:
        return _roster(before, in_place, email)
    if email in shown.mentioned or any(m.email == email for m in shown.members):
        return None
    predicted = before.members[:index] + before.members[index + 1 :]
    start = _run_start(predicted, shown)
    if start is None or shown.count != len(predicted):
        return None
    # Both former neighbours on this page (predicted[index - 1] and predicted[index], or the
    # list's edge): the gap the row left is here, so its absence here is its absence anywhere.
    if not _gap_on_page(predicted, index, start, shown):
        return None
    return _roster(before, predicted, email)


def _gap_on_page(predicted: list[Member], index: int, start: int, shown: ShownPage) -> bool:
    """Whether the page shows both sides of the place at `index` where the row was."""
    end = start + len(shown.members)
    above = start < index or (index == start == 0 and shown.first_page)
    below = index < end or (index == end == len(predicted) and shown.last_page)
    return above and below


def _deactivated_in_place(before: MemberList, index: int, shown: ShownPage) -> list[Member] | None:
    """Variants that keep deactivated members: the same list, the row now Deactivated."""
    target = before.members[index]
    row = next((m for m in shown.members if m.email == target.email), None)
    if row is None or row.status is not Status.DEACTIVATED:
        return None
    predicted = list(before.members)
    predicted[index] = target.model_copy(update={"status": Status.DEACTIVATED})
    if shown.count != len(predicted) or _run_start(predicted, shown) is None:
        return None
    return predicted


def _run_start(predicted: list[Member], shown: ShownPage) -> int | None:
    """Where the page's rows sit in `predicted`, if they are an unbroken run of it (and start
    where the page says they start)."""
    first = shown.members[0].email
    start = next((i for i, m in enumerate(predicted) if m.email == first), None)
    if start is None or predicted[start : start + len(shown.members)] != shown.members:
        return None
    if shown.first_row is not None and shown.first_row != start + 1:
        return None
    return start


def _roster(before: MemberList, members: list[Member], email: str) -> MemberList:
    return before.model_copy(
        update={
            "members": members,
            "scraped_at": datetime.now(UTC),
            "mentioned": before.mentioned - {email},
        }
    )
