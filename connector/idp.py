"""The identity provider's file: an Okta user export, a generic `email,status` CSV or a JSON
list, read into an IdpDirectory (who should have access).

Optional, for joiners and role changes: a role (a `Stitch role` or `role` column, a
`stitch_role` or `role` field: Administrator or General User), and who should have Stitch at all
(`assigned`: a column or field of that name that says yes, or a `groups` column or list that
names it).

A malformed IdP file is a ConfigError that names the line. It is never read as "fewer users":
that would make everyone it missed an orphan.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from connector.errors import ConfigError
from connector.models import Role


class IdpFormat(StrEnum):
    AUTO = "auto"
    OKTA = "okta"  # Okta's user export (CSV with Okta's column names)
    CSV = "csv"  # a CSV with the columns email,status
    JSON = "json"  # a list of {"email", "status"} objects, or of email strings (all active)


# Every status any format may use, case-insensitive; spaces and hyphens count as underscores.
# Okta (its UserStatus values, and the labels its Admin Console shows for them): a person is
# still employed while STAGED (created, not yet activated: e.g. a future starter invited ahead),
# PROVISIONED ("pending user action"), ACTIVE, RECOVERY ("password reset"), PASSWORD_EXPIRED or
# LOCKED_OUT. SUSPENDED and DEPROVISIONED ("deactivated") mean gone.
# Generic files: active, or inactive / suspended / deprovisioned.
ACTIVE_STATUSES = frozenset(
    {
        "active",
        "staged",
        "provisioned",
        "pending_user_action",
        "recovery",
        "password_reset",
        "password_expired",
        "locked_out",
    }
)
GONE_STATUSES = frozenset({"inactive", "suspended", "deprovisioned", "deactivated"})

_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
_OKTA_EMAIL = "primary email"
_OKTA_USERNAME = "username"
_STATUS = "status"


@dataclass(frozen=True)
class IdpUser:
    email: str  # normalised: trimmed, lower-case
    status: str  # as the file wrote it (trimmed)
    active: bool
    line: int  # where the file defines this user
    assigned: bool | None = None  # should have Stitch (None: the file was not asked)
    role: Role | None = None  # the Stitch role the IdP gives them, if it says


@dataclass(frozen=True)
class IdpDirectory:
    source: str  # the file, as the user named it
    format: IdpFormat  # the format it was read as (never AUTO)
    users: dict[str, IdpUser]  # by normalised email, in file order

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(domain_of(email) for email in self.users)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def load_idp(
    path: Path, fmt: IdpFormat = IdpFormat.AUTO, *, assigned: str | None = None
) -> IdpDirectory:
    """Read and parse an IdP file. Every problem is a ConfigError naming the file (and line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the IdP file {path}: {exc.strerror or exc}",
            hint="Give --idp an Okta user export, an email,status CSV or a JSON list.",
        ) from None
    return parse_idp(data, str(path), fmt, suffix=path.suffix, assigned=assigned)


def parse_idp(
    data: bytes,
    source: str,
    fmt: IdpFormat = IdpFormat.AUTO,
    *,
    suffix: str = "",
    assigned: str | None = None,
) -> IdpDirectory:
    """`assigned`: the column, field or group that says who should have Stitch."""
    text = _decode(data, source)
    if not text.strip():
        raise _bad(source, 1, "the file is empty")
    if fmt is IdpFormat.AUTO:
        fmt = _detect(text, suffix)
    if fmt is IdpFormat.JSON:
        return _parse_json(text, source, assigned)
    return _parse_csv(text, source, fmt, assigned)


def _decode(data: bytes, source: str) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")  # a leading byte-order mark (Excel) is fine
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _bad(
            source,
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); export the file as UTF-8",
        ) from None


def _detect(text: str, suffix: str) -> IdpFormat:
    if suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        return IdpFormat.JSON
    first = next(csv.reader([text.lstrip().splitlines()[0]]), [])
    header = {_header_key(cell) for cell in first}
    if _OKTA_EMAIL in header or (_OKTA_USERNAME in header and "email" not in header):
        return IdpFormat.OKTA
    return IdpFormat.CSV


def _header_key(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _status(raw: str, source: str, line: int) -> bool:
    """True when the status means the person still works here."""
    key = re.sub(r"[\s-]+", "_", raw.strip()).lower()
    if key in ACTIVE_STATUSES:
        return True
    if key in GONE_STATUSES:
        return False
    if not key:
        raise _bad(source, line, "no status")
    raise _bad(
        source,
        line,
        f"unknown status {raw.strip()!r} (expected active, inactive, suspended, deprovisioned, "
        "or an Okta status such as LOCKED_OUT)",
    )


class _Collector:
    """Users in file order; refuses bad emails and duplicates, naming both lines."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.users: dict[str, IdpUser] = {}

    def add(
        self,
        raw_email: str,
        raw_status: str,
        line: int,
        *,
        assigned: bool | None = None,
        raw_role: str = "",
    ) -> None:
        email = normalise_email(raw_email)
        if not email:
            raise _bad(self.source, line, "no email")
        if not _EMAIL.fullmatch(email):
            raise _bad(self.source, line, f"not an email address: {raw_email.strip()!r}")
        active = _status(raw_status, self.source, line)
        first = self.users.get(email)
        if first is not None:
            raise _bad(self.source, line, f"duplicate email {email} (first on line {first.line})")
        role = _role(raw_role, self.source, line)
        self.users[email] = IdpUser(email, raw_status.strip(), active, line, assigned, role)

    def done(self, fmt: IdpFormat) -> IdpDirectory:
        if not self.users:
            raise _bad(self.source, 1, "no users in the file")
        return IdpDirectory(self.source, fmt, self.users)


def _parse_csv(text: str, source: str, fmt: IdpFormat, assigned: str | None) -> IdpDirectory:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    found = _Collector(source)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    end = 0  # the last physical line read: a quoted cell may span lines
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines, and Excel's all-empty rows
            if header is None:
                header = row
                columns = _columns(header, source, start, fmt)
                says = _assignment(columns, assigned, source, start)
                continue
            if len(row) != len(header):
                raise _bad(source, start, f"{len(row)} fields, the header has {len(header)}")
            if fmt is IdpFormat.OKTA:
                email = _okta_email(row, columns, source, start)
            else:
                email = row[columns["email"]]
            role = next((row[columns[k]] for k in _ROLE_KEYS if k in columns), "")
            found.add(email, row[columns[_STATUS]], start, assigned=says(row, start), raw_role=role)
    except csv.Error as exc:
        raise _bad(source, max(reader.line_num, 1), f"not valid CSV: {exc}") from None
    return found.done(fmt)


def _columns(header: list[str], source: str, line: int, fmt: IdpFormat) -> dict[str, int]:
    keys = [_header_key(cell) for cell in header]
    counts = Counter(keys)
    twice = [k for k in keys if k and counts[k] > 1]
    if twice:
        raise _bad(source, line, f"column {twice[0]!r} appears twice in the header")
    columns = {key: i for i, key in enumerate(keys)}
    shown = ", ".join(cell.strip() for cell in header)
    if fmt is IdpFormat.OKTA:
        if _STATUS not in columns or not {_OKTA_EMAIL, _OKTA_USERNAME} & columns.keys():
            raise _bad(
                source,
                line,
                f"not an Okta user export: need the columns 'Primary email' (or 'Username') "
                f"and 'Status'; the header is: {shown}",
            )
    elif "email" not in columns or _STATUS not in columns:
        raise _bad(
            source,
            line,
            f"need the columns 'email' and 'status'; the header is: {shown}",
        )
    return columns


def _okta_email(row: list[str], columns: dict[str, int], source: str, line: int) -> str:
    """Primary email; else Username when it is an email (Okta usernames usually are)."""
    if _OKTA_EMAIL in columns and row[columns[_OKTA_EMAIL]].strip():
        return row[columns[_OKTA_EMAIL]]
    username = row[columns[_OKTA_USERNAME]].strip() if _OKTA_USERNAME in columns else ""
    if _EMAIL.fullmatch(username):
        return username
    if username:
        raise _bad(
            source,
            line,
            f"no email: Primary email is empty and Username {username!r} is not an email address",
        )
    return ""


def _parse_json(text: str, source: str, assigned: str | None) -> IdpDirectory:
    """A JSON list, walked item by item so that every problem has its line."""
    decoder = json.JSONDecoder()
    found = _Collector(source)

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip(0)
    if text[pos] != "[":
        raise _bad(source, line_at(pos), "expected a JSON list of users ([...])")
    pos = skip(pos + 1)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                item, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise _bad(source, exc.lineno, f"invalid JSON: {exc.msg}") from None
            line = line_at(pos)
            if isinstance(item, str):
                found.add(item, "active", line, assigned=False if assigned else None)
            elif isinstance(item, dict):
                email, status = item.get("email"), item.get("status")
                if not isinstance(email, str):
                    raise _bad(source, line, 'no email (each object needs an "email" string)')
                if not isinstance(status, str):
                    raise _bad(
                        source,
                        line,
                        f'no status for {email.strip()} (give "status": "active", or list '
                        "plain email strings)",
                    )
                role = item.get("stitch_role", item.get("role")) or ""
                if not isinstance(role, str):
                    raise _bad(source, line, f"the role of {email.strip()} is not a string")
                says = _json_assignment(item, assigned, source, line)
                found.add(email, status, line, assigned=says, raw_role=role)
            else:
                raise _bad(source, line, "each item must be an email string or an object")
            pos = skip(end)
            if pos < len(text) and text[pos] == ",":
                pos = skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise _bad(source, line_at(pos), "invalid JSON: expected ',' or ']'")
    pos = skip(pos)
    if pos < len(text):
        raise _bad(source, line_at(pos), "invalid JSON: extra data after the list")
    return found.done(IdpFormat.JSON)


_ROLE_KEYS = ("stitch role", "role")
_YES = frozenset({"yes", "y", "true", "1", "x", "assigned"})
_NO = frozenset({"no", "n", "false", "0", ""})
_ROLES = {"administrator": Role.ADMINISTRATOR, "general user": Role.GENERAL_USER}


def _role(raw: str, source: str, line: int) -> Role | None:
    text = " ".join(raw.replace("_", " ").split()).lower()
    if not text:
        return None
    if text not in _ROLES:
        raise _bad(
            source, line, f"unknown Stitch role {raw.strip()!r} (Administrator, General User)"
        )
    return _ROLES[text]


def _assignment(
    columns: dict[str, int], assigned: str | None, source: str, line: int
) -> Callable[[list[str], int], bool | None]:
    """How a CSV row says it should have Stitch: the `assigned` column's yes or no, else the
    `groups` column naming it (separated by ; , or |)."""
    if assigned is None:
        return lambda row, at: None
    key = _header_key(assigned)
    if key in columns:
        index = columns[key]

        def by_column(row: list[str], at: int) -> bool:
            value = row[index].strip().lower()
            if value not in _YES | _NO:
                raise _bad(source, at, f"column {assigned!r} says {row[index]!r}, not yes or no")
            return value in _YES

        return by_column
    if "groups" in columns:
        index, wanted = columns["groups"], assigned.strip().lower()
        return lambda row, at: wanted in {g.strip().lower() for g in re.split(r"[;,|]", row[index])}
    raise _bad(
        source, line, f"--assigned {assigned!r}: no column of that name, nor a groups column"
    )


def _json_assignment(
    item: dict[str, object], assigned: str | None, source: str, line: int
) -> bool | None:
    """A JSON user's field of that name (true or false), else its `groups` list naming it."""
    if assigned is None:
        return None
    if assigned in item:
        value = item[assigned]
        if not isinstance(value, bool):
            raise _bad(source, line, f'"{assigned}" must be true or false')
        return value
    groups = item.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise _bad(source, line, '"groups" must be a list of names')
    return assigned.strip().lower() in {g.strip().lower() for g in groups}


def _bad(source: str, line: int, problem: str) -> ConfigError:
    return ConfigError(
        f"{source} line {line}: {problem}",
        hint="Fix the IdP file and run again; nothing was written.",
    )


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1]
