"""The typed contract: what a scrape returns.

Field names and values match the sandbox's `/__sandbox__/state` members, so a test can compare the
two directly. Scraped text is untrusted: it is validated here, and never interpreted as markup.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    computed_field,
)

# What a caller may ask to remove: one rule, shared by the policy (every entry point), the
# service's request model and the OpenAPI document it publishes (schemathesis checks the two agree).
# The local part is an RFC 5322 dot-atom in ASCII, at most 64 characters (the lookahead); the
# domain is LDH labels of at most 63 characters with an alphabetic or IDNA (xn--) top label, so an
# internationalised domain is written in its IDNA (A-label) form. The whole address is at most
# MAX_EMAIL_LENGTH characters. ECMA-262 and Python's `re` read this pattern the same way.
MAX_EMAIL_LENGTH = 254
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
REQUESTED_EMAIL = (
    f"(?=[^@]{{1,64}}@){_ATEXT}+(?:\\.{_ATEXT}+)*"
    f"@(?:{_LABEL}\\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"
)
# What the service's request model takes, as its OpenAPI document publishes it: the address,
# with spaces around it allowed (and stripped). It ends in "nothing follows", not `$`: Python's
# `$` also matches before a final newline, ECMA-262's does not.
REQUESTED_EMAIL_PATTERN = f"^ *(?:{REQUESTED_EMAIL}) *(?![\\s\\S])"
_REQUESTED_EMAIL = re.compile(f" *(?:{REQUESTED_EMAIL}) *")

# Characters no request field may hold: C0 controls (NUL, ESC: ANSI escape sequences, newlines),
# DEL, C1 controls, and the bidirectional controls that reorder how text is shown (U+200E/F,
# U+202A-U+202E, U+2066-U+2069). Refused where text comes in, escaped where it goes out.
UNSAFE_CHARS = "[\\x00-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]"
_UNSAFE = re.compile(UNSAFE_CHARS)


def is_requested_email(text: str) -> bool:
    """The one email rule (REQUESTED_EMAIL_PATTERN and MAX_EMAIL_LENGTH): exactly what the
    OpenAPI document says, so nothing passes one and fails the other."""
    return len(text) <= MAX_EMAIL_LENGTH and _REQUESTED_EMAIL.fullmatch(text) is not None


def unsafe_char(text: str) -> str | None:
    """The first control, escape or bidi character in `text`, or None."""
    found = _UNSAFE.search(text)
    return found.group() if found else None


def refuse_unsafe(value: object) -> object:
    """A BeforeValidator: any string with an unsafe character (UNSAFE_CHARS) is refused."""
    if isinstance(value, str) and (bad := unsafe_char(value)) is not None:
        raise ValueError(
            f"must not contain control, escape or bidirectional characters (found U+{ord(bad):04X})"
        )
    return value


def _requested_email(value: str) -> str:
    if not is_requested_email(value):
        raise ValueError(
            "not an email address: an ASCII local part (at most 64 characters) @ a domain "
            "(IDNA A-labels for internationalised names)"
        )
    return value.strip(" ").lower()


# Any string a request carries: refused (before any stripping) when it holds an unsafe character.
SafeText = Annotated[str, BeforeValidator(refuse_unsafe)]
SafeHttpUrl = Annotated[AnyHttpUrl, BeforeValidator(refuse_unsafe)]

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
    ),
]


RequestedEmail = Annotated[
    str,
    BeforeValidator(refuse_unsafe),
    StringConstraints(max_length=MAX_EMAIL_LENGTH),
    AfterValidator(_requested_email),
    WithJsonSchema(
        {"type": "string", "maxLength": MAX_EMAIL_LENGTH, "pattern": REQUESTED_EMAIL_PATTERN}
    ),
]


class Role(StrEnum):
    ADMINISTRATOR = "Administrator"
    GENERAL_USER = "General User"


class Status(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"  # an invitation not yet accepted
    DEACTIVATED = "deactivated"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_id: int = Field(description="The number after /client/ in every app URL.")
    company_name: str | None = None


class Member(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: Email
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    role: Role
    status: Status
    invoice_admin: bool = False
    is_self: bool = Field(False, description="The account the connector signed in as.")


class MemberList(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: Account
    members: list[Member]
    scraped_at: datetime
    pages: int = Field(ge=1, description="How many list pages were read.")
    source_url: str
    selectors_version: str
    mentioned: frozenset[str] = Field(
        default_factory=frozenset,
        exclude=True,
        description="Emails asked about that the list's text showed anywhere, read or not: a "
        "member is only absent when their address is nowhere on the page.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """SHA-256 of the roster's content, independent of order and of when it was read."""
        rows = sorted((m.model_dump(mode="json") for m in self.members), key=lambda r: r["email"])
        blob = json.dumps(
            {"client_id": self.account.client_id, "members": rows},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def count(self) -> int:
        return len(self.members)


class Progress(BaseModel):
    """Reported while a long operation runs, for progress bars and logs."""

    step: str
    page: int | None = None
    pages: int | None = None
    rows: int | None = None


# ---------------------------------------------------------------------- writes


class Action(StrEnum):
    DEACTIVATE = "deactivate"  # an active member
    CANCEL_INVITATION = "cancel_invitation"  # a pending invitation
    # The rest of the lifecycle (grant.py): what a Grant asks for, when the roster needs it.
    INVITE = "invite"  # Add a Team Member: a new pending row
    SET_ROLE = "set_role"  # the row's role dropdown
    REACTIVATE = "reactivate"  # a deactivated member, where the list keeps them
    RESEND_INVITATION = "resend_invitation"  # a pending invitation, sent again

    @property
    def removes(self) -> bool:
        return self in (Action.DEACTIVATE, Action.CANCEL_INVITATION)

    @property
    def proven(self) -> OutcomeStatus:
        """The outcome once a fresh read proves this action took effect."""
        return _PROVEN[self]


class OutcomeStatus(StrEnum):
    DEACTIVATED = "deactivated"  # clicked, and a fresh read proves it
    ALREADY_ABSENT = "already_absent"  # was a member, now gone or deactivated: success
    # Never on the roster in any stored snapshot, the last accepted roster nor the audit trail:
    # most likely a typo, so NOT success (the real address may still have access).
    NOT_FOUND = "not_found"
    INVITATION_CANCELLED = "invitation_cancelled"
    REFUSED = "refused"  # a policy said no; `rule` names it
    FAILED = "failed"  # `reason` says why; nothing changed, as far as a fresh read shows
    UNKNOWN = "unknown"  # the click happened but nothing proved its effect: check by hand
    SKIPPED = "skipped"  # not tried: an earlier removal in the run stopped the batch
    PLANNED = "planned"  # dry run: `action` is what would happen
    # Held for a second person (approval_rules.py): nothing clicked; `approval_id` names it.
    PENDING_APPROVAL = "pending_approval"
    # Grants (grant.py), each proven by a fresh read like a removal:
    INVITED = "invited"  # a pending row with the asked role now
    ALREADY_MEMBER = "already_member"  # an invite or reactivation found them active: nothing done
    ALREADY_INVITED = "already_invited"  # ... found a pending invitation: nothing done
    CHANGED = "changed"  # the row shows the asked role now
    UNCHANGED = "unchanged"  # it already did: nothing done
    REACTIVATED = "reactivated"  # the row shows Active again
    INVITATION_RESENT = "invitation_resent"  # the app said so and the row is still pending

    @property
    def ok(self) -> bool:
        return self in _OK


_OK = frozenset(
    {
        OutcomeStatus.DEACTIVATED,
        OutcomeStatus.ALREADY_ABSENT,
        OutcomeStatus.INVITATION_CANCELLED,
        OutcomeStatus.INVITED,
        OutcomeStatus.ALREADY_MEMBER,
        OutcomeStatus.ALREADY_INVITED,
        OutcomeStatus.CHANGED,
        OutcomeStatus.UNCHANGED,
        OutcomeStatus.REACTIVATED,
        OutcomeStatus.INVITATION_RESENT,
    }
)


_PROVEN = {
    Action.DEACTIVATE: OutcomeStatus.DEACTIVATED,
    Action.CANCEL_INVITATION: OutcomeStatus.INVITATION_CANCELLED,
    Action.INVITE: OutcomeStatus.INVITED,
    Action.SET_ROLE: OutcomeStatus.CHANGED,
    Action.REACTIVATE: OutcomeStatus.REACTIVATED,
    Action.RESEND_INVITATION: OutcomeStatus.INVITATION_RESENT,
}

# A Grant's kind is the Action it asks for, by the same name (Action(kind)).
GrantKind = Literal["invite", "set_role", "reactivate", "resend_invitation"]


class Grant(BaseModel):
    """What a lifecycle target asks for (a removal target has none). The planner turns it into
    an Action on the roster it reads, or into the outcome already true."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: GrantKind
    role: Role | None = Field(
        None, description="invite: the role to invite with (None: General User); set_role: it."
    )
    name: SafeText | None = Field(
        None, max_length=200, description="invite: the name, where the form asks for one."
    )
    allow_administrator: bool = Field(
        False, description="Granting Administrator was asked for explicitly (a flag or scope)."
    )
    invite_if_absent: bool = Field(
        False,
        description="reactivate: invite again where the list no longer shows deactivated members.",
    )


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: Email
    status: OutcomeStatus
    action: Action | None = None
    rule: str | None = Field(None, description="The policy rule that refused it.")
    reason: str | None = None
    member_before: Member | None = None
    evidence: list[str] = Field(default_factory=list)
    role: Role | None = Field(None, description="A grant's role: invited with, or set to.")
    approval_id: str | None = Field(
        None, description="The approval request that holds it, or that it was carried out under."
    )


class TargetRequest(BaseModel):
    """Who asked for one target and why, when one run carries several requests."""

    model_config = ConfigDict(frozen=True)

    request_id: str | None = None
    actor: str | None = None  # who called, as authenticated (the service: `api:<token name>`)
    reason: str | None = None
    requested_by: str | None = None  # who the caller says asked: its word, not verified


class PlanTarget(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: Email
    expected: OutcomeStatus  # what applying should end in, as of the plan's roster
    action: Action | None = None
    rule: str | None = None
    member: Member | None = None
    request: TargetRequest | None = Field(
        None, description="This target's own request (a batch of service jobs); else the plan's."
    )
    grant: Grant | None = Field(
        None, description="A lifecycle ask (invite, role, reactivate, resend); None: a removal."
    )
    approval: str | None = Field(
        None, description="The approval rule that holds this write for a second person."
    )

    @property
    def granted_role(self) -> Role | None:
        """The role a grant gives: asked for, or General User for an invitation; else None."""
        if self.grant is None or self.grant.kind not in ("invite", "set_role"):
            return None
        return self.grant.role or Role.GENERAL_USER


class Plan(BaseModel):
    """What `apply` will do, bound to the roster it was made against (a stale plan is refused)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["stitch-connector/plan"] = "stitch-connector/plan"
    version: Literal[1] = 1
    created_at: datetime
    base_url: str
    account: Account
    roster_fingerprint: str
    roster_count: int
    targets: list[PlanTarget]
    reason: str | None = None
    request_id: str | None = None


class LoginReport(BaseModel):
    """After `login --interactive`: where the session went and when it will likely end."""

    saved_to: str
    expires_at: datetime | None = Field(
        None,
        description="The earliest expiry of the app's cookies; None: a browser-session "
        "cookie, which lasts until Stitch's own session timeout (not documented).",
    )


class SnapshotInfo(BaseModel):
    """One stored snapshot, without its members."""

    model_config = ConfigDict(frozen=True)

    id: int
    taken_at: datetime
    client_id: int
    company_name: str | None
    count: int
    fingerprint: str
    connector_version: str | None  # None: stored before schema version 2
    accepted_drop: str | None = None  # the gate's finding a person overrode (--accept-drop)
