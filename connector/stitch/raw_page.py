"""What extract.js returns for one page, and what reading it gives: the models, and the two
helpers every reading rule uses (`norm` for comparing labels, `drift` for a loud error)."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

from connector.errors import PageNotRecognised
from connector.models import Member


class RawToken(BaseModel):
    """One run of visible text inside one element (or an icon's label)."""

    t: str
    raw: str = ""
    c: bool | None = None  # the checked state of the control it labels, if any
    select: bool = False  # the selected option of a <select>
    icon: bool = False


class RawCell(BaseModel):
    tokens: list[RawToken]
    mailto: list[str] = []
    email_text: list[str] | None = None
    name_text: str | None = None
    checked: bool | None = None
    colspan: int = 1
    colindex: int | None = None
    header: bool = False


class RawRow(BaseModel):
    cells: list[RawCell]
    data_email: str | None = None
    self_css: bool = False
    invoice_admin_css: bool = False


class RawHeader(BaseModel):
    tokens: list[str]
    colspan: int = 1
    colindex: int | None = None


class RawTable(BaseModel):
    section: str | None = None
    headers: list[RawHeader]
    rows: list[RawRow]
    busy: bool = False


class RawPage(BaseModel):
    """What extract.js returns for one page."""

    url: str
    container_found: bool
    tables: list[RawTable]
    texts: list[str]
    count_texts: list[str]
    next_present: bool
    next_enabled: bool
    empty_state: bool
    loading: bool
    needles_found: list[str] = []


class ParsedPage(BaseModel):
    members: list[Member]
    member_count: int | None  # how many members the page says the list has, if it says
    page_number: int | None  # from "Page 2 of 5", if shown
    page_total: int | None
    first_row: int | None  # from "51–100 of 120", if shown
    has_next: bool
    mentioned: frozenset[str] = frozenset()  # asked-about emails seen anywhere in the list's text

    @property
    def says_first_page(self) -> bool:
        """The page states it is the list's first ("Page 1 of 3", "1–50 of 120"), or shows
        every member the list counts."""
        return self.page_number == 1 or self.first_row == 1 or self._shows_all

    @property
    def says_last_page(self) -> bool:
        """The page states it is the list's last (parsing held that against the Next button),
        or shows every member the list counts."""
        by_status = self.page_number is not None and self.page_number == self.page_total
        by_range = self.first_row is not None and (
            self.first_row + len(self.members) - 1 == self.member_count
        )
        return by_status or by_range or self._shows_all

    @property
    def _shows_all(self) -> bool:
        # Missing rows never look like this; only a count that is itself wrong could.
        return self.member_count is not None and len(self.members) == self.member_count


def norm(text: str) -> str:
    """What a label says, for comparison: case, accents' forms, punctuation and glyphs folded."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).replace("_", " ").split())


def drift(
    message: str, raw: RawPage | None = None, element: str | None = None
) -> PageNotRecognised:
    return PageNotRecognised(
        f"member list not recognised: {message}", url=raw.url if raw else None, element=element
    )
