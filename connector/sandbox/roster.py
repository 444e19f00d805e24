"""Who is on the sandbox account: a deterministic generated roster, or one read from a JSON file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import pydantic

from connector.errors import ConfigError
from connector.sandbox.options import SandboxOptions, is_plausible_email

Role = Literal["Administrator", "General User"]
Status = Literal["active", "pending", "deactivated"]

ADMINISTRATOR: Role = "Administrator"
GENERAL_USER: Role = "General User"

# [P] Invented data. example.com/.net are reserved names, so no generated address can reach anyone.
_DOMAINS = ("example.com", "example.net")

# Names the brief asks for, plus a few that exercise quoting and long family names.
_FEATURED_NAMES = (
    "Zoë Ødegaard",
    "José Núñez",
    "Łukasz Żółw",
    "Nguyễn Thị Hoa",
    "Søren Kierkegaard",
    "Siobhán O'Brien",
    "Ana María García-Márquez",
)
_FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustav",
    "Hana",
    "Ines",
    "Jakob",
    "Kenji",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zainab",
    "Amélie",
    "Björn",
    "Çağla",
    "Dorothée",
    "Émile",
    "Frederik",
    "Greta",
    "Håkon",
    "Ingrid",
    "Jürgen",
    "Kateřina",
    "Lars",
    "Maja",
    "Noé",
)
_LAST_NAMES = (
    "Anderson",
    "Becker",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "Olsen",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Åberg",
    "Brontë",
    "Đorđević",
    "Gonçalves",
    "Håland",
    "Jovanović",
    "Lindqvist",
    "Nørgaard",
    "Pérez",
    "Sánchez",
    "Šimková",
)

# Letters that NFKD does not split into base letter + accent.
_ASCII_FOLD = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ı": "i",
        "þ": "th",
        "Þ": "Th",
    }
)


def _fold(text: str) -> str:
    """Latin letters without their accents (other scripts pass through unchanged)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclasses.dataclass(frozen=True)
class Member:
    """One row of the account's team. `id` is stable for a given email."""

    id: str
    email: str
    name: str | None
    role: Role
    status: Status
    invoice_admin: bool
    is_login_user: bool

    def as_state(self) -> dict[str, object]:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "invoice_admin": self.invoice_admin,
            "is_login_user": self.is_login_user,
        }


def display_sort_key(member: Member) -> tuple[int, int, str, str, str]:
    """Administrators first, then by name (nameless invitees after named members), then email."""
    has_no_name = member.name is None or not member.name.strip()
    name = (member.name or "").strip()
    return (
        0 if member.role == ADMINISTRATOR else 1,
        1 if has_no_name else 0,
        _fold(name).casefold(),  # so "Łukasz" sorts with the L's, as a person expects
        name,  # tie-break on the exact text so the order never depends on input order
        member.email.lower(),
    )


def sort_members(members: Iterable[Member]) -> list[Member]:
    return sorted(members, key=display_sort_key)


def _assign_ids(emails: list[str]) -> list[str]:
    """Short ids derived from the email (stable across runs), lengthened on the rare collision."""
    ids: list[str] = []
    taken: set[str] = set()
    for email in emails:
        digest = hashlib.sha256(email.lower().encode()).hexdigest()
        length = 8
        while f"m-{digest[:length]}" in taken:
            length += 2
        ids.append(f"m-{digest[:length]}")
        taken.add(ids[-1])
    return ids


# ---------------------------------------------------------------- generated roster


def _email_local_part(name: str) -> str:
    words = [
        "".join(ch for ch in word.lower() if ch.isascii() and ch.isalnum())
        for word in _fold(name).split()
    ]
    words = [word for word in words if word]
    if not words:
        return "user"
    return words[0] if len(words) == 1 else f"{words[0]}.{words[-1]}"


def _names(rng: random.Random) -> Iterator[str]:
    featured = list(_FEATURED_NAMES)
    rng.shuffle(featured)
    # Interleave featured names with ordinary ones so small rosters still show some of each.
    for name in featured:
        yield f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        yield name
    while True:
        yield f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"


def generate_roster(options: SandboxOptions) -> list[Member]:
    """`options.members` rows from `options.seed`: same options, same roster, in display order.

    Always: the login user (an active Administrator with `options.admin_email`); exactly one
    Invoice Admin who is not the login user (when there is anyone else); about 10% pending
    invitations (no name yet); one extra Administrator from 10 rows up, more on large rosters.
    """
    rng = random.Random(options.seed)  # noqa: S311 (reproducible test data, not secrets)
    names = _names(rng)
    total = options.members
    others = total - 1

    pending_count = min(round(total * 0.1), max(others - 1, 0))  # keep one active for invoice admin
    extra_admins = 0 if total < 10 else min(6, 1 + total // 60)
    indices = list(range(others))
    pending = set(rng.sample(indices, pending_count))
    active = [i for i in indices if i not in pending]
    invoice_admin = rng.choice(active) if active else None
    candidates = [i for i in active if i != invoice_admin]
    admins = set(rng.sample(candidates, min(extra_admins, len(candidates))))

    used_emails = {options.admin_email.lower()}

    def unique_email(name: str) -> str:
        local = _email_local_part(name)
        domain = _DOMAINS[0] if rng.random() < 0.8 else _DOMAINS[1]
        email, suffix = f"{local}@{domain}", 2
        while email in used_emails:
            email, suffix = f"{local}{suffix}@{domain}", suffix + 1
        used_emails.add(email)
        return email

    rows: list[tuple[str, str | None, Role, Status, bool, bool]] = [
        (options.admin_email, next(names), ADMINISTRATOR, "active", False, True)
    ]
    for i in indices:
        name = next(names)
        email = unique_email(name)
        if i in pending:
            rows.append((email, None, GENERAL_USER, "pending", False, False))
        else:
            role = ADMINISTRATOR if i in admins else GENERAL_USER
            rows.append((email, name, role, "active", i == invoice_admin, False))

    ids = _assign_ids([row[0] for row in rows])
    return sort_members(Member(member_id, *row) for member_id, row in zip(ids, rows, strict=True))


# ---------------------------------------------------------------- roster file


class _RosterEntry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    email: str
    name: str | None
    role: Role
    status: Status
    invoice_admin: bool
    is_login_user: bool = False

    @pydantic.field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if not is_plausible_email(value):
            raise ValueError(f"not an email address: {value!r}")
        return value


_ROSTER_ADAPTER = pydantic.TypeAdapter(list[_RosterEntry])


def _describe_roster_error(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = list(first["loc"])
    if loc and isinstance(loc[0], int):
        where = f"item {loc[0]}"
        if len(loc) > 1:
            where += f" field {'.'.join(str(part) for part in loc[1:])!r}"
    else:
        where = "top level"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def load_roster_file(path: Path) -> list[Member]:
    """Read and strictly validate a roster file; every problem is a one-line ConfigError."""
    prefix = f"roster file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{prefix}: cannot read it ({exc.__class__.__name__}: {exc})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{prefix}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{prefix}: must be a JSON list of members, not {type(raw).__name__}")
    try:
        entries = _ROSTER_ADAPTER.validate_python(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"{prefix}: {_describe_roster_error(exc)}") from exc

    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        key = entry.email.lower()
        if key in seen:
            raise ConfigError(
                f"{prefix}: item {index}: duplicate email {entry.email!r} "
                f"(same as item {seen[key]}; emails are compared case-insensitively)"
            )
        seen[key] = index

    login_items = [index for index, entry in enumerate(entries) if entry.is_login_user]
    if len(login_items) != 1:
        found = "none" if not login_items else "items " + ", ".join(map(str, login_items))
        raise ConfigError(
            f'{prefix}: exactly one member needs "is_login_user": true (found {found})'
        )
    login = entries[login_items[0]]
    if login.status != "active":
        raise ConfigError(
            f'{prefix}: item {login_items[0]}: the login user must have status "active" '
            f"(got {login.status!r})"
        )

    ids = _assign_ids([entry.email for entry in entries])
    return sort_members(
        Member(
            id=member_id,
            email=entry.email,
            name=entry.name,
            role=entry.role,
            status=entry.status,
            invoice_admin=entry.invoice_admin,
            is_login_user=entry.is_login_user,
        )
        for member_id, entry in zip(ids, entries, strict=True)
    )


def build_roster(options: SandboxOptions) -> list[Member]:
    """The starting roster for these options, in display order."""
    if options.members_file is not None:
        return load_roster_file(options.members_file)
    return generate_roster(options)


def login_member(members: Iterable[Member]) -> Member:
    for member in members:
        if member.is_login_user:
            return member
    raise ConfigError("the roster has no login user")  # cannot happen after validation


def hide_rows(members: list[Member], share: float) -> list[Member]:
    """The first (1 - share) of `members`, at least one, always with the login user."""
    if not share:
        return members
    keep = max(1, math.ceil(round((1 - share) * len(members), 9)))
    kept = {m.id for m in members if m.is_login_user}  # hiding it would break the sign-in row
    others = [m.id for m in members if not m.is_login_user]
    kept.update(others[: keep - len(kept)])
    return [m for m in members if m.id in kept]


def new_member_id(email: str, taken: set[str]) -> str:
    """Like the roster's ids: derived from the email, lengthened on a collision."""
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    length = 8
    while f"m-{digest[:length]}" in taken:
        length += 2
    return f"m-{digest[:length]}"


def name_from_email(email: str) -> str:
    """The name a person might fill in on accepting ("new.person@x" -> "New Person")."""
    words = email.split("@", 1)[0].replace("_", ".").replace("-", ".").split(".")
    return " ".join(w.capitalize() for w in words if w) or email
