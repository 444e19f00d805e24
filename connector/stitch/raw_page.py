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
