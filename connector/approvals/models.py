"""An approval request: what exactly will be done, against which roster, who asked and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from connector.approval_rules import Approved
from connector.models import Outcome, Plan, SafeText

ApprovalSource = Literal["cli", "api", "scim", "python"]
Note = Annotated[SafeText, StringConstraints(strip_whitespace=True, max_length=1000)]


class ApprovalStatus(StrEnum):
    PENDING = "pending"  # waits for a decision; nothing was clicked
    APPROVED = "approved"  # a second person said yes: carried out next, on a fresh read
    RUNNING = "running"  # being carried out now (one run holds it)
    EXECUTED = "executed"  # carried out: `outcomes` say how each write ended
    REJECTED = "rejected"  # never carried out
    EXPIRED = "expired"  # nobody decided in time: never carried out
    STALE = "stale"  # the roster changed in a way that matters: asked again (`superseded_by`)
    REFUSED = "refused"  # approved, but a guard refused the run (the budget, the roster check)

    @property
    def decided(self) -> bool:
        return self is not ApprovalStatus.PENDING

    @property
    def closed(self) -> bool:
        """Nothing more will happen to it."""
        return self not in (
            ApprovalStatus.PENDING,
            ApprovalStatus.APPROVED,
            ApprovalStatus.RUNNING,
        )


class Approval(BaseModel):
    """One request held for a second person. `plan` holds exactly the held writes, bound to
    the roster they were decided on; carrying it out plans them again on a fresh read."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: ApprovalStatus
    requested_by: str = Field(description="The authenticated principal (or CLI actor) that asked.")
    source: ApprovalSource
    rules: list[str] = Field(description="Every approval rule that holds it.")
    reason: str | None = Field(None, description="Why the request was made (the caller's).")
    plan: Plan
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    run_id: str | None = Field(None, description="The run that carried it out: runs/<run_id>/.")
    outcomes: list[Outcome] | None = None
    finished_at: datetime | None = None
    superseded_by: str | None = Field(None, description="Stale: the request that asks again.")
    error: str | None = Field(None, description="Why the last attempt to carry it out stopped.")

    def approved(self) -> Approved:
        """What the run that carries it out is allowed: these rules, for these targets."""
        return Approved(
            id=self.id,
            rules=frozenset(self.rules),
            targets={t.email: t for t in self.plan.targets},
        )


class Decision(BaseModel):
    """POST /v1/approvals/{id}/approve|reject."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: Note | None = Field(None, description="Why: kept in the request and the audit trail.")
