"""One page of the member list, as extract.js saw it, turned into Members. Pure: no browser.

It reads meaning, as a person does: columns by what their headers say (case, punctuation, sort
arrows and icons ignored), every table of the members area that has member columns, each row's
cells by what they say (cells.py), counts and positions wherever the page states them. Anything
it cannot read for certain raises PageNotRecognised naming the element: never a short or guessed
roster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from pydantic import BaseModel, ValidationError

from connector.models import Member, Role, Status
from connector.selector_set import Extract, SelectorSet
from connector.stitch.cells import (
    cell_words,
    email_of,
    invoice_admin_of,
    label_of,
    marked,
    name_of,
)
from connector.stitch.raw_page import (
    ParsedPage,
    RawCell,
    RawHeader,
    RawPage,
    RawRow,
    RawTable,
    drift,
    norm,
)

__all__ = ["ParsedPage", "RawPage", "columns_of", "norm", "parse_page"]


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
            raise drift(
                f"two columns could be {key!r} (headers {[' '.join(h.tokens) for h in headers]})",
                element=f"extract.columns.{key}",
            )
        if candidates:
            found[key] = candidates[0]
    claimed = list(found.values())
    if len(claimed) != len(set(claimed)):
        raise drift(
            f"one header means two columns: {[' '.join(h.tokens) for h in headers]}",
            element="extract.columns",
        )
    return found


# ---------------------------------------------------------------- rows and pages


def _merge(cells: list[RawCell]) -> RawCell:
    """Body cells under one header (an avatar cell and a name cell under "Name") as one."""
    if len(cells) == 1:
        return cells[0]
    return RawCell(
        tokens=[t for c in cells for t in c.tokens],
        mailto=[m for c in cells for m in c.mailto],
        email_text=next((c.email_text for c in cells if c.email_text is not None), None),
        name_text=next((c.name_text for c in cells if c.name_text is not None), None),
        checked=next((c.checked for c in cells if c.checked is not None), None),
    )


def _row_cells(
    row: RawRow,
    headers: list[RawHeader],
    columns: dict[str, int],
    fits: Callable[[dict[str, RawCell]], bool],
    index: int,
) -> dict[str, RawCell] | None:
    """The row's cell under each column's header. A row with more cells than the headers have
    columns (a cell no header names) is lined up the one way its content fits the headers."""
    if len(row.cells) == 1 and len(headers) > 1 and "@" not in " ".join(cell_words(row.cells[0])):
        return None  # a message row across the table ("No pending invitations")
    width = _width((h.colspan, h.colindex) for h in headers)
    span_at = dict(
        zip(
            _grid((h.colspan, h.colindex) for h in headers),
            (h.colspan for h in headers),
            strict=True,
        )
    )
    spans = [(c.colspan, c.colindex) for c in row.cells]
    grid = _grid(spans)
    extra = _width(spans) - width
    if extra < 0:
        raise drift(
            f"row {index} has {len(row.cells)} cells for {width} columns", element="extract.cell"
        )
    ways = []
    for shift in range(extra + 1):
        picked: dict[str, RawCell] = {}
        for key, start in columns.items():
            low, high = start + shift, start + shift + max(span_at[start], 1)
            covered = [c for c, col in zip(row.cells, grid, strict=True) if low <= col < high]
            if covered:
                picked[key] = _merge(covered)
        if extra == 0 or fits(picked):
            ways.append(picked)
    if len(ways) != 1:
        raise drift(
            f"row {index} has {len(row.cells)} cells for {width} columns, and they line up "
            f"with the headers in {len(ways)} ways",
            element="extract.cell",
        )
    return ways[0]


def _is_pending_section(section: str | None, ex: Extract) -> bool:
    words = set(norm(section or "").split())
    return bool(words & {norm(w) for w in ex.text.pending_sections})


def _check_columns(columns: dict[str, int], table: RawTable, raw: RawPage, pending: bool) -> None:
    """A member table needs an email, a role, and (unless it lists invitations) a status and a
    name; which one is missing is the element the error names."""
    needed = {
        "email": "email" in columns or "member" in columns,
        "role": "role" in columns,
        "status": "status" in columns or pending,
        "name": "name" in columns or "member" in columns or pending,
    }
    for key, present in needed.items():
        if not present:
            headers = [" ".join(h.tokens) for h in table.headers]
            raise drift(
                f"no {key} column among the columns {headers}", raw, f"extract.columns.{key}"
            )


class _RowReader:
    """Reads the rows of one member table: the labels it knows, and the section's meaning."""

    def __init__(self, ex: Extract, pending: bool, login_email: str | None) -> None:
        self.ex = ex
        self.pending = pending
        self.login_email = login_email
        self.roles = {norm(k): v for k, v in ex.roles.items()}
        self.statuses = {norm(k): v for k, v in ex.statuses.items()}
        self.you = {norm(label) for label in ex.text.self_labels}

    def fits(self, cells: dict[str, RawCell]) -> bool:
        """Do these cells say what their headers promise (to line up an extra cell)?"""
        person = cells.get("email") or cells.get("member")
        status = cells.get("status")
        return (
            person is not None
            and any("@" in t.t for t in person.tokens)
            and "role" in cells
            and any(norm(t.t) in self.roles for t in cells["role"].tokens)
            and (status is None or any(norm(t.t) in self.statuses for t in status.tokens))
        )

    def member(self, row: RawRow, cells: dict[str, RawCell], raw: RawPage, index: int) -> Member:
        if not any(c.tokens or c.checked is not None for c in row.cells):
            raise drift(
                f"row {index} has no text (a loading placeholder that stayed?)",
                raw,
                "extract.loading",
            )
        email = email_of(cells.get("email") or cells["member"], row, index)
        name, after_name = name_of(
            cells.get("name") or cells.get("member"), self.ex, skip_email="name" not in cells
        )
        role = self._label(cells, "role", self.roles, None, raw, index)
        status = self._label(
            cells, "status", self.statuses, "pending" if self.pending else None, raw, index
        )
        markers = [
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
            or any(marked(markers, self.you))
            or (self.login_email is not None and email == self.login_email)
        )
        try:
            return Member(
                email=email,
                name=name,
                role=Role(role),
                status=Status(status),
                invoice_admin=invoice_admin_of(row, cells, self.ex, index),
                is_self=is_self,
            )
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise drift(
                f"row {index}: {field}: {problem['msg']}", raw, f"extract.{field}"
            ) from None

    @staticmethod
    def _label(
        cells: dict[str, RawCell],
        what: str,
        labels: Mapping[str, str],
        default: str | None,
        raw: RawPage,
        index: int,
    ) -> str:
        cell = cells.get(what)
        found = label_of(cell, labels, what, index) if cell is not None else default
        if found is None:
            shown = " ".join(cell_words(cell)) if cell is not None else ""
            raise drift(f"row {index}: unknown {what} label {shown!r}", raw, f"extract.{what}")
        return found


def _read_table(
    table_columns: dict[str, int],
    table: RawTable,
    raw: RawPage,
    ex: Extract,
    login_email: str | None,
    start: int,
) -> list[Member]:
    pending = _is_pending_section(table.section, ex)
    _check_columns(table_columns, table, raw, pending)
    reader = _RowReader(ex, pending, login_email)
    members: list[Member] = []
    for offset, row in enumerate(table.rows):
        cells = _row_cells(row, table.headers, table_columns, reader.fits, start + offset)
        if cells is not None:
            members.append(reader.member(row, cells, raw, start + offset))
    return members


def _numbers(patterns: Iterable[str], texts: Iterable[str]) -> set[tuple[int, ...]]:
    found: set[tuple[int, ...]] = set()
    for text in texts:
        for pattern in patterns:
            match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
            if match:
                found.add(tuple(int(g.replace(",", "")) for g in match.groups()))
    return found


def _member_tables(raw: RawPage, ex: Extract) -> list[tuple[dict[str, int], RawTable]]:
    """The tables whose headers mean member columns; an unrelated table (API keys) is skipped,
    a table of addresses with no header row is loud."""
    found = []
    for table in raw.tables:
        if not table.headers:
            if any("@" in t.t for r in table.rows for c in r.cells for t in c.tokens):
                raise drift("a table of addresses without a header row", raw, "extract.header_cell")
            continue
        columns = columns_of(table.headers, ex)
        if columns.keys() & {"email", "member", "name", "role"}:
            found.append((columns, table))
    if not found:
        raise drift("no member table on the page", raw, "extract.table")
    return found


class _Position(BaseModel):
    member_count: int | None
    page_number: int | None
    page_total: int | None
    first_row: int | None


def _position(raw: RawPage, ex: Extract, rows: int) -> _Position:
    """How many members the page says there are, and where this page is: from every place the
    page states it, which must agree with each other, with the rows and with the Next button."""
    counts = _numbers(ex.text.member_count_patterns, [*raw.count_texts, *raw.texts])
    ranges = _numbers(ex.text.range_patterns, raw.texts)
    statuses = _numbers(ex.text.page_status_patterns, raw.texts)
    totals = {c[0] for c in counts} | {r[2] for r in ranges}
    if len(totals) > 1:
        raise drift(
            f"the page states different member counts {sorted(totals)}", raw, "extract.member_count"
        )
    if len(ranges) > 1 or len(statuses) > 1:
        raise drift(
            "the page states two different positions in the list", raw, "extract.page_status"
        )
    if ex.text.require_member_count and not totals:
        raise drift(
            "no member count on the page: nothing proves every page was read",
            raw,
            "extract.member_count",
        )
    page_number = page_total = first_row = None
    if statuses:
        page_number, page_total = next(iter(statuses))
        if (page_number < page_total) != raw.next_enabled:
            raise drift(
                f"'Page {page_number} of {page_total}' disagrees with the Next button",
                raw,
                "extract.next_button",
            )
    if ranges:
        first_row, last_row, total = next(iter(ranges))
        if last_row - first_row + 1 != rows:
            raise drift(
                f"the page says rows {first_row}–{last_row} but shows {rows}", raw, "extract.row"
            )
        if (last_row < total) != raw.next_enabled:
            raise drift(
                f"'{first_row}–{last_row} of {total}' disagrees with the Next button",
                raw,
                "extract.next_button",
            )
    return _Position(
        member_count=next(iter(totals)) if totals else None,
        page_number=page_number,
        page_total=page_total,
        first_row=first_row,
    )


def parse_page(raw: RawPage, selectors: SelectorSet, login_email: str | None) -> ParsedPage:
    """Validate one page of raw rows into Members. Raises PageNotRecognised on anything odd."""
    ex = selectors.extract
    if not raw.container_found:
        raise drift("the members area is not on the page", raw, "members_container")
    if raw.loading:
        raise drift("the list is still loading", raw, "extract.loading")
    members: list[Member] = []
    for columns, table in _member_tables(raw, ex):
        members.extend(_read_table(columns, table, raw, ex, login_email, len(members) + 1))
    if not members:
        # The signed-in viewer is always a member, so an empty table is never a real roster.
        raise drift("the table has no rows", raw, "extract.row")
    seen: set[str] = set()
    for member in members:
        if member.email in seen:
            raise drift(f"{member.email} appears twice on one page", raw, "extract.row")
        seen.add(member.email)
    return ParsedPage(
        members=members,
        **_position(raw, ex, len(members)).model_dump(),
        has_next=raw.next_enabled,
        mentioned=frozenset(raw.needles_found),
    )
