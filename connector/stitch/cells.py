"""One row's cells read by meaning: its email, a role or status label, the Invoice Admin marker,
the name. Pure; anything uncertain raises PageNotRecognised naming the element."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from connector.selector_set import Extract
from connector.stitch.raw_page import RawCell, RawRow, RawToken, drift, norm

# A whole address, strictly: no ellipsis, a real top-level label (letters, or an IDNA xn--
# label), nothing glued on. Scraped text is untrusted; a near miss is loud, never "absent".
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
WHOLE_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+{_TLD}")
_GLUED_CASE = re.compile(r"[a-z][A-Z]")  # "example.orgADMIN": a word run into the domain
_EDGE_PUNCT = "<>()[]{},;:\"'"


def cell_words(cell: RawCell) -> list[str]:
    return [t.t for t in cell.tokens]


def email_of(cell: RawCell, row: RawRow, index: int) -> str:
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
        raise drift(
            f"row {index}: the email cell holds more than one address {sorted(distinct | links)}",
            element="extract.email",
        )
    if cell.email_text is not None:
        element = [w.strip(_EDGE_PUNCT) for t in cell.email_text for w in t.split() if "@" in w]
        if len({w.lower() for w in element}) == 1:
            chosen = element[0]
        else:
            raise drift(
                f"row {index}: the email element shows {cell.email_text}",
                element="extract.email_text",
            )
    elif links:
        chosen = next(iter(links))
    elif shown:
        chosen = shown[0]
    else:
        raise drift(
            f"row {index}: no email address in the email cell {cell_words(cell)}",
            element="extract.email",
        )
    others = (distinct | links) - {chosen.lower()}
    if others:
        raise drift(
            f"row {index}: the email cell shows {chosen!r} but also {sorted(others)}",
            element="extract.email",
        )
    if not WHOLE_EMAIL.fullmatch(chosen) or _GLUED_CASE.search(chosen.rsplit("@", 1)[-1]):
        raise drift(
            f"row {index}: {chosen!r} is not a whole email address (cut short, or text run "
            "into it?)",
            element="extract.email",
        )
    if row.data_email is not None and row.data_email.strip().lower() != chosen.lower():
        raise drift(
            f"row {index}: the row is for {row.data_email!r} but shows {chosen!r}",
            element="extract.email",
        )
    return chosen.lower()


def label_of(cell: RawCell, labels: Mapping[str, str], what: str, index: int) -> str | None:
    """The one known label in a cell (a selected option first); None if it shows none."""
    selected = [t.t for t in cell.tokens if t.select]
    words = selected or [t.t for t in cell.tokens]
    known = {labels[norm(w)] for w in words if norm(w) in labels}
    if len(known) > 1:
        raise drift(
            f"row {index}: the {what} cell says {words}: more than one {what}",
            element=f"extract.{what}",
        )
    return known.pop() if known else None


def marked(tokens: Iterable[RawToken], labels: set[str]) -> list[bool]:
    """Each token that says one of `labels`: true, or the state of the switch it labels."""
    return [t.c if t.c is not None else True for t in tokens if norm(t.t) in labels]


def invoice_admin_of(row: RawRow, cells: dict[str, RawCell], ex: Extract, index: int) -> bool:
    labels = {norm(label) for label in ex.text.invoice_admin_labels}
    column = cells.get("invoice_admin")
    if column is not None:
        if column.checked is not None:
            return column.checked
        words = cell_words(column)
        yes, no = {norm(w) for w in ex.text.yes}, {norm(w) for w in ex.text.no}
        raw_yes, raw_no = set(ex.text.yes), set(ex.text.no)
        if any((norm(w) and norm(w) in yes) or w in raw_yes for w in words):
            return True
        if all(w in raw_no or norm(w) in no for w in words):
            return False
        raise drift(
            f"row {index}: cannot read the Invoice Admin cell {words}",
            element="extract.invoice_admin",
        )
    skip = {id(cells[k]) for k in ("email", "member") if k in cells}
    states = [
        state
        for cell in row.cells
        if id(cell) not in skip
        for state in marked(cell.tokens[1:] if cell is cells.get("name") else cell.tokens, labels)
    ]
    if row.invoice_admin_css and not states:
        # The badge's old class is there but no text says what it means any more: a person
        # could not tell either, so neither guess ("everyone" or "nobody") is safe.
        raise drift(
            f"row {index}: the Invoice Admin badge's class is there but no text says "
            f"{ex.text.invoice_admin_labels[0]!r}",
            element="extract.invoice_admin",
        )
    return any(states)


def _initials_of(short: str, name: str) -> bool:
    initials = "".join(word[0] for word in name.split() if word).upper()
    return (
        1 <= len(short) <= 3 and short.isalpha() and short.isupper() and initials.startswith(short)
    )


def name_of(
    cell: RawCell | None, ex: Extract, skip_email: bool
) -> tuple[str | None, list[RawToken]]:
    """The name (the cell's first words, or its name element) and the tokens after it."""
    if cell is None:
        return None, []
    tokens = [t for t in cell.tokens if not (skip_email and "@" in t.t) and not t.icon]
    name: str | None
    if cell.name_text is not None:
        name = cell.name_text
        rest = tokens[1:] if tokens and tokens[0].t == " ".join(name.split()) else tokens
    else:
        if len(tokens) > 1 and _initials_of(tokens[0].t, tokens[1].t):
            tokens = tokens[1:]  # an avatar's initials ("AB") before "Alice Brown"
        name = tokens[0].raw or tokens[0].t if tokens else None
        rest = tokens[1:]
    if name is not None and name.strip() in ex.text.no_name:
        name = None
    return name, rest
