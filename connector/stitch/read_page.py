"""One page of the member list, as extract.js saw it, turned into Members. Pure: no browser.

It reads meaning, as a person does: columns by what their headers say (case, punctuation, sort
arrows and icons ignored), every table of the members area that has member columns, a role or
status by its label wherever it sits in the cell, an email from its mailto: link or the email
element before the cell's words, validated as a whole address. Anything it cannot read for
certain raises PageNotRecognised naming the element: never a short or guessed roster.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ValidationError

from connector.errors import PageNotRecognised
from connector.models import Member, Role, Status
from connector.selector_set import Extract, SelectorSet

# A whole address, strictly: no ellipsis, a real top-level label (letters, or an IDNA xn--
# label), nothing glued on. Scraped text is untrusted; a near miss is loud, never "absent".
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
WHOLE_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+{_TLD}")
_GLUED_CASE = re.compile(r"[a-z][A-Z]")  # "example.orgADMIN": a word run into the domain
_EDGE_PUNCT = "<>()[]{},;:\"'"


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


def _drift(
    message: str, raw: RawPage | None = None, element: str | None = None
) -> PageNotRecognised:
    return PageNotRecognised(
        f"member list not recognised: {message}", url=raw.url if raw else None, element=element
    )


# ---------------------------------------------------------------- columns


def _grid(spans: Iterable[tuple[int, int | None]]) -> list[int]:
    """Grid column of each cell: by aria-colindex when every cell has one, else by colspan."""
    cells = list(spans)
    indices = [index for _, index in cells if index is not None]
    if cells and len(indices) == len(cells):
        return [index - 1 for index in indices]
    columns, position = [], 0
    for span, _ in cells:
        columns.append(position)
        position += max(span, 1)
    return columns


def _width(spans: Iterable[tuple[int, int | None]]) -> int:
    cells = list(spans)
    indexed = [(span, index) for span, index in cells if index is not None]
    if cells and len(indexed) == len(cells):
        return max(index + span - 1 for span, index in indexed)
    return sum(max(span, 1) for span, _ in cells)


def columns_of(headers: list[RawHeader], ex: Extract) -> dict[str, int]:
    """Column key -> grid column, from header meaning. An exact header wins over a header that
    only contains the label among other words; two candidates for one key are ambiguous."""
    wanted = {
        key: {norm(label) for label in labels}
        for key, labels in ex.columns.model_dump().items()
        if labels
    }
    grid = _grid((h.colspan, h.colindex) for h in headers)
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for header, column in zip(headers, grid, strict=True):
        whole = norm(" ".join(header.tokens))
        words = {norm(t) for t in header.tokens}
        for key, labels in wanted.items():
            if whole in labels:
                exact.setdefault(key, []).append(column)
            elif words & labels:
                loose.setdefault(key, []).append(column)
    found: dict[str, int] = {}
    for key in wanted:
        candidates = exact.get(key) or loose.get(key) or []
        if len(candidates) > 1:
            raise _drift(
                f"two columns could be {key!r} (headers {[' '.join(h.tokens) for h in headers]})",
                element=f"extract.columns.{key}",
            )
        if candidates:
            found[key] = candidates[0]
    claimed = list(found.values())
    if len(claimed) != len(set(claimed)):
        raise _drift(
            f"one header means two columns: {[' '.join(h.tokens) for h in headers]}",
            element="extract.columns",
        )
    return found


# ---------------------------------------------------------------- cells


def _words(cell: RawCell) -> list[str]:
    return [t.t for t in cell.tokens]


def _email(cell: RawCell, row: RawRow, index: int) -> str:
    """The row's one email address, from the most specific source, checked against the rest."""
    shown = [
        word.strip(_EDGE_PUNCT)
        for token in cell.tokens
        if not token.icon
        for word in token.t.split()
        if "@" in word
    ]
    distinct = {w.lower() for w in shown}
    links = {m.strip().lower() for m in cell.mailto if m.strip()}
    if len(distinct) > 1 or len(links) > 1:
        raise _drift(
            f"row {index}: the email cell holds more than one address {sorted(distinct | links)}",
            element="extract.email",
        )
    if cell.email_text is not None:
        element = [w.strip(_EDGE_PUNCT) for t in cell.email_text for w in t.split() if "@" in w]
        if len({w.lower() for w in element}) == 1:
            chosen = element[0]
        else:
            raise _drift(
                f"row {index}: the email element shows {cell.email_text}",
                element="extract.email_text",
            )
    elif links:
        chosen = next(iter(links))
    elif shown:
        chosen = shown[0]
    else:
        raise _drift(
            f"row {index}: no email address in the email cell {_words(cell)}",
            element="extract.email",
        )
    others = (distinct | links) - {chosen.lower()}
    if others:
        raise _drift(
            f"row {index}: the email cell shows {chosen!r} but also {sorted(others)}",
            element="extract.email",
        )
    if not WHOLE_EMAIL.fullmatch(chosen) or _GLUED_CASE.search(chosen.rsplit("@", 1)[-1]):
        raise _drift(
            f"row {index}: {chosen!r} is not a whole email address (cut short, or text run "
            "into it?)",
            element="extract.email",
        )
    if row.data_email is not None and row.data_email.strip().lower() != chosen.lower():
        raise _drift(
            f"row {index}: the row is for {row.data_email!r} but shows {chosen!r}",
            element="extract.email",
        )
    return chosen.lower()


def _label(cell: RawCell, labels: Mapping[str, str], what: str, index: int) -> str | None:
    """The one known label in a cell (a selected option first); None if it shows none."""
    selected = [t.t for t in cell.tokens if t.select]
    words = selected or [t.t for t in cell.tokens]
    known = {labels[norm(w)] for w in words if norm(w) in labels}
    if len(known) > 1:
        raise _drift(
            f"row {index}: the {what} cell says {words}: more than one {what}",
            element=f"extract.{what}",
        )
    return known.pop() if known else None


def _marked(tokens: Iterable[RawToken], labels: set[str]) -> list[bool]:
    """Each token that says one of `labels`: true, or the state of the switch it labels."""
    return [t.c if t.c is not None else True for t in tokens if norm(t.t) in labels]


def _invoice_admin(row: RawRow, cells: dict[str, RawCell], ex: Extract, index: int) -> bool:
    labels = {norm(label) for label in ex.text.invoice_admin_labels}
    column = cells.get("invoice_admin")
    if column is not None:
        if column.checked is not None:
            return column.checked
        words = _words(column)
        yes, no = {norm(w) for w in ex.text.yes}, {norm(w) for w in ex.text.no}
        raw_yes, raw_no = set(ex.text.yes), set(ex.text.no)
        if any((norm(w) and norm(w) in yes) or w in raw_yes for w in words):
            return True
        if all(w in raw_no or norm(w) in no for w in words):
            return False
        raise _drift(
            f"row {index}: cannot read the Invoice Admin cell {words}",
            element="extract.invoice_admin",
        )
    skip = {id(cells[k]) for k in ("email", "member") if k in cells}
    states = [
        state
        for cell in row.cells
        if id(cell) not in skip
        for state in _marked(cell.tokens[1:] if cell is cells.get("name") else cell.tokens, labels)
    ]
    if row.invoice_admin_css and not states:
        # The badge's old class is there but no text says what it means any more: a person
        # could not tell either, so neither guess ("everyone" or "nobody") is safe.
        raise _drift(
            f"row {index}: the Invoice Admin badge's class is there but no text says "
            f"{ex.text.invoice_admin_labels[0]!r}",
            element="extract.invoice_admin",
        )
    return any(states)


def _name(cell: RawCell | None, ex: Extract, skip_email: bool) -> tuple[str | None, list[RawToken]]:
    """The name (the cell's first words, or its name element) and the tokens after it."""
    if cell is None:
        return None, []
    tokens = [t for t in cell.tokens if not (skip_email and "@" in t.t) and not t.icon]
    name: str | None
    if cell.name_text is not None:
        name = cell.name_text
        rest = tokens[1:] if tokens and tokens[0].t == " ".join(name.split()) else tokens
    else:
        name = tokens[0].raw or tokens[0].t if tokens else None
        rest = tokens[1:]
    if name is not None and name.strip() in ex.text.no_name:
        name = None
    return name, rest


# ---------------------------------------------------------------- rows and pages


def _row_cells(
    row: RawRow, grid_width: int, columns: dict[str, int], index: int
) -> dict[str, RawCell] | None:
    spans = [(c.colspan, c.colindex) for c in row.cells]
    if len(row.cells) == 1 and grid_width > 1 and "@" not in " ".join(_words(row.cells[0])):
        return None  # a message row across the table ("No pending invitations")
    if _width(spans) != grid_width:
        raise _drift(
            f"row {index} has {len(row.cells)} cells for {grid_width} columns",
            element="extract.cell",
        )
    at = dict(zip(_grid(spans), row.cells, strict=True))
    return {key: at[col] for key, col in columns.items() if col in at}


def _is_pending_section(section: str | None, ex: Extract) -> bool:
    words = set(norm(section or "").split())
    return bool(words & {norm(w) for w in ex.text.pending_sections})


def _read_table(
    table_columns: dict[str, int],
    table: RawTable,
    raw: RawPage,
    ex: Extract,
    login_email: str | None,
    start: int,
) -> list[Member]:
    pending_section = _is_pending_section(table.section, ex)
    if "email" not in table_columns and "member" not in table_columns:
        raise _drift(
            f"no email column among the columns {[' '.join(h.tokens) for h in table.headers]}",
            raw,
            "extract.columns.email",
        )
    if "role" not in table_columns:
        raise _drift(
            f"no role column among the columns {[' '.join(h.tokens) for h in table.headers]}",
            raw,
            "extract.columns.role",
        )
    if "status" not in table_columns and not pending_section:
        raise _drift(
            f"no status column among the columns {[' '.join(h.tokens) for h in table.headers]}",
            raw,
            "extract.columns.status",
        )
    if "name" not in table_columns and "member" not in table_columns and not pending_section:
        raise _drift(
            f"no name column among the columns {[' '.join(h.tokens) for h in table.headers]}",
            raw,
            "extract.columns.name",
        )
    roles = {norm(k): v for k, v in ex.roles.items()}
    statuses = {norm(k): v for k, v in ex.statuses.items()}
    you = {norm(label) for label in ex.text.self_labels}
    width = _width((h.colspan, h.colindex) for h in table.headers)
    members: list[Member] = []
    for offset, row in enumerate(table.rows):
        index = start + offset
        cells = _row_cells(row, width, table_columns, index)
        if cells is None:
            continue
        if not any(c.tokens or c.checked is not None for c in row.cells):
            raise _drift(
                f"row {index} has no text (a loading placeholder that stayed?)",
                raw,
                "extract.loading",
            )
        email = _email(cells.get("email") or cells["member"], row, index)
        name_cell = cells.get("name") or cells.get("member")
        name, after_name = _name(name_cell, ex, skip_email="name" not in cells)
        role = _label(cells["role"], roles, "role", index)
        if role is None:
            raise _drift(
                f"row {index}: unknown role label {' '.join(_words(cells['role']))!r}",
                raw,
                "extract.role",
            )
        status = "pending" if pending_section else None
        if "status" in cells:
            status = _label(cells["status"], statuses, "status", index)
        if status is None:
            raise _drift(
                f"row {index}: unknown status label {' '.join(_words(cells['status']))!r}",
                raw,
                "extract.status",
            )
        marker_tokens = [
            *after_name,
            *(
                t
                for k, c in cells.items()
                if k not in ("email", "name", "member")
                for t in c.tokens
            ),
        ]
        is_self = (
            row.self_css
            or any(_marked(marker_tokens, you))
            or (login_email is not None and email == login_email)
        )
        try:
            member = Member(
                email=email,
                name=name,
                role=Role(role),
                status=Status(status),
                invoice_admin=_invoice_admin(row, cells, ex, index),
                is_self=is_self,
            )
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise _drift(
                f"row {index}: {field}: {problem['msg']}", raw, f"extract.{field}"
            ) from None
        members.append(member)
    return members


def _numbers(patterns: Iterable[str], texts: Iterable[str]) -> set[tuple[int, ...]]:
    found: set[tuple[int, ...]] = set()
    for text in texts:
        for pattern in patterns:
            match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
            if match:
                found.add(tuple(int(g.replace(",", "")) for g in match.groups()))
    return found


def parse_page(raw: RawPage, selectors: SelectorSet, login_email: str | None) -> ParsedPage:
    """Validate one page of raw rows into Members. Raises PageNotRecognised on anything odd."""
    ex = selectors.extract
    if not raw.container_found:
        raise _drift("the members area is not on the page", raw, "members_container")
    if raw.loading:
        raise _drift("the list is still loading", raw, "extract.loading")
    member_tables = []
    for table in raw.tables:
        if not table.headers:
            if any("@" in t.t for r in table.rows for c in r.cells for t in c.tokens):
                raise _drift(
                    "a table of addresses without a header row", raw, "extract.header_cell"
                )
            continue
        cols = columns_of(table.headers, ex)
        if cols.keys() & {"email", "member", "name", "role"}:
            member_tables.append((cols, table))
    if not member_tables:
        raise _drift("no member table on the page", raw, "extract.table")
    members: list[Member] = []
    for cols, table in member_tables:
        members.extend(_read_table(cols, table, raw, ex, login_email, len(members) + 1))
    if not members:
        # The signed-in viewer is always a member, so an empty table is never a real roster.
        raise _drift("the table has no rows", raw, "extract.row")
    seen: set[str] = set()
    for member in members:
        if member.email in seen:
            raise _drift(f"{member.email} appears twice on one page", raw, "extract.row")
        seen.add(member.email)

    counts = _numbers(ex.text.member_count_patterns, [*raw.count_texts, *raw.texts])
    ranges = _numbers(ex.text.range_patterns, raw.texts)
    statuses = _numbers(ex.text.page_status_patterns, raw.texts)
    totals = {c[0] for c in counts} | {r[2] for r in ranges}
    if len(totals) > 1:
        raise _drift(
            f"the page states different member counts {sorted(totals)}", raw, "extract.member_count"
        )
    if len(ranges) > 1 or len(statuses) > 1:
        raise _drift(
            "the page states two different positions in the list", raw, "extract.page_status"
        )
    if ex.text.require_member_count and not totals:
        raise _drift(
            "no member count on the page: nothing proves every page was read",
            raw,
            "extract.member_count",
        )
    page_number = page_total = first_row = None
    if statuses:
        page_number, page_total = next(iter(statuses))
        if (page_number < page_total) != raw.next_enabled:
            raise _drift(
                f"'Page {page_number} of {page_total}' disagrees with the Next button",
                raw,
                "extract.next_button",
            )
    if ranges:
        first_row, last_row, total = next(iter(ranges))
        if last_row - first_row + 1 != len(members):
            raise _drift(
                f"the page says rows {first_row}–{last_row} but shows {len(members)}",
                raw,
                "extract.row",
            )
        if (last_row < total) != raw.next_enabled:
            raise _drift(
                f"'{first_row}–{last_row} of {total}' disagrees with the Next button",
                raw,
                "extract.next_button",
            )
    return ParsedPage(
        members=members,
        member_count=next(iter(totals)) if totals else None,
        page_number=page_number,
        page_total=page_total,
        first_row=first_row,
        has_next=raw.next_enabled,
        mentioned=frozenset(raw.needles_found),
    )
