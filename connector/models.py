"""The typed contract: what a scrape returns.

Field names and values match the sandbox's `/__sandbox__/state` members, so a test can compare the
two directly. Scraped text is untrusted: it is validated here, and never interpreted as markup.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

# What a caller may ask to remove: an address with a dot in its domain. Shared by the policy (every
# entry point) and the service's request model, so nothing passes one and fails the other.
REQUESTED_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"

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
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=f"^{REQUESTED_EMAIL}$"
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


class OutcomeStatus(StrEnum):
    DEACTIVATED = "deactivated"  # clicked, and a fresh read proves it
    ALREADY_ABSENT = "already_absent"  # not on the roster, or already deactivated: success
    INVITATION_CANCELLED = "invitation_cancelled"
    REFUSED = "refused"  # a policy said no; `rule` names it
    FAILED = "failed"  # `reason` says why; nothing changed, as far as a fresh read shows
    UNKNOWN = "unknown"  # the click happened but nothing proved its effect: check by hand
    SKIPPED = "skipped"  # not tried: an earlier removal in the run stopped the batch
    PLANNED = "planned"  # dry run: `action` is what would happen

    @property
    def ok(self) -> bool:
        return self in (self.DEACTIVATED, self.ALREADY_ABSENT, self.INVITATION_CANCELLED)


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: Email
    status: OutcomeStatus
    action: Action | None = None
    rule: str | None = Field(None, description="The policy rule that refused it.")
    reason: str | None = None
    member_before: Member | None = None
    evidence: list[str] = Field(default_factory=list)


class TargetRequest(BaseModel):
    """Who asked for one target and why, when one run carries several requests."""

    model_config = ConfigDict(frozen=True)

    request_id: str | None = None
    actor: str | None = None
    reason: str | None = None


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
