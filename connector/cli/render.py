"""Render a MemberList for people (a table) and for machines (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import re
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.models import UNSAFE_CHARS, MemberList

CSV_FIELDS = ("email", "name", "role", "status", "invoice_admin", "is_self")
# A cell starting with one of these is run as a formula by spreadsheet apps (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_UNSAFE = re.compile(UNSAFE_CHARS)


def visible(text: str) -> str:
    """Control, escape and bidi characters shown as escapes (ESC as \\x1b, U+202E as \\u202e),
    so untrusted text can neither drive the terminal nor reorder what is shown."""

    def shown(found: re.Match[str]) -> str:
        code = ord(found.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE.sub(shown, text)


def cell(text: str | None) -> str:
    """Untrusted text for a rich table cell: control characters made visible, markup escaped
    (so "[bold]" in a name stays text)."""
    return escape(visible(text or ""))


def csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_json(roster: MemberList) -> str:
    return roster.model_dump_json(indent=2) + "\n"


def to_csv(roster: MemberList) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for m in roster.members:
        writer.writerow(
            [
                csv_safe(m.email),
                csv_safe(m.name or ""),
                m.role.value,
                m.status.value,
                str(m.invoice_admin).lower(),
                str(m.is_self).lower(),
            ]
        )
    return out.getvalue()


# A pipe, a file or a CI log has no width: a table there is as wide as its content.
_NO_WIDTH = 100_000


def stdout_console() -> Console:
    """Where tables go. A terminal folds cells to its width; anything else (cron's mail, a CI
    log, `> file`, `| grep`) gets each row on one line, no cell wrapped or cut."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=_NO_WIDTH, no_color=True)


def print_table(roster: MemberList, console: Console) -> None:
    account = roster.account
    title = f"{account.company_name or 'Stitch account'} · account {account.client_id}"
    table = Table(title=cell(title), title_justify="left")
    table.add_column("Name", overflow="fold")
    table.add_column("Email", overflow="fold", no_wrap=False, min_width=24)
    table.add_column("Role", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("", overflow="fold")
    for m in roster.members:
        badges = [b for b, on in (("Invoice Admin", m.invoice_admin), ("you", m.is_self)) if on]
        # Scraped names are untrusted: escape so that "[bold]" in a name stays text.
        table.add_row(
            cell(m.name or "—"),
            cell(m.email),
            m.role.value,
            m.status.value,
            cell(", ".join(badges)),
        )
    console.print(table)
    console.print(
        f"{roster.count} members on {roster.pages} page(s), "
        f"read {roster.scraped_at:%Y-%m-%d %H:%M} UTC · fingerprint {roster.fingerprint[:19]}…",
        highlight=False,
    )
