"""What the offboarding queue holds: a request to remove one person, and the job it becomes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from connector.models import (
    Email,
    Outcome,
    OutcomeStatus,
    RequestedEmail,
    SafeHttpUrl,
    SafeText,
    TargetRequest,
)

RequestId = Annotated[
    SafeText,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^\S+$"),
]
Source = Literal["api", "scim", "python"]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # deactivated, invitation cancelled, or already absent: all proven
    REFUSED = "refused"  # a policy said no; the outcome names the rule
    FAILED = "failed"  # nothing changed, as far as a fresh read shows
    UNKNOWN = "unknown"  # a click happened and nothing proved its effect: check by hand
    NOT_FOUND = "not_found"  # never a member (a typo?): not success; nothing was clicked
    # An approval rule holds it for a second person (GET /v1/approvals/{approval_id}): nothing
    # was clicked; it finishes once the request is approved and carried out, rejected or expired.
    PENDING_APPROVAL = "pending_approval"

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PENDING_APPROVAL)

    @property
    def settled(self) -> bool:
        """Nothing more happens without a person: finished, or waiting for approval."""
        return self.finished or self is JobStatus.PENDING_APPROVAL

    @classmethod
    def of(cls, outcome: Outcome) -> JobStatus:
        if outcome.status.ok:
            return cls.SUCCEEDED
        if outcome.status is OutcomeStatus.REFUSED:
            return cls.REFUSED
        if outcome.status is OutcomeStatus.UNKNOWN:
            return cls.UNKNOWN
        if outcome.status is OutcomeStatus.NOT_FOUND:
            return cls.NOT_FOUND
        if outcome.status is OutcomeStatus.PENDING_APPROVAL:
            return cls.PENDING_APPROVAL
        return cls.FAILED


class OffboardingRequest(BaseModel):
    """POST /v1/offboardings: remove this person from Stitch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: RequestedEmail
    request_id: RequestId = Field(
        description="Your id for this request: the idempotency key. Retry with the same one."
    )
    reason: Annotated[SafeText, StringConstraints(max_length=1000)] | None = None
    requested_by: Annotated[
        SafeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ] = Field(description="Who asks: a system or a person; kept in the job and the audit trail.")
    callback_url: SafeHttpUrl | None = Field(
        None, description="POSTed the finished job, signed with HMAC-SHA256 (X-Stitch-Signature)."
    )

    def body_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    REFUSED = "refused"  # never attempted: the URL or its address is not allowed


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    request_id: str
    email: Email
    reason: str | None
    requested_by: str
    callback_url: str | None
    source: Source
    status: JobStatus
    outcome: Outcome | None = Field(None, description="Set once the job has finished.")
    run_id: str | None = Field(None, description="The run that carried it out: runs/<run_id>/.")
    attempts: int
    note: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    callback_status: CallbackStatus | None = None
    callback_attempts: int = 0
    not_before: datetime | None = Field(None, description="Queued again: not claimed before.")
    override_budget: bool = Field(
        False, description="The run that decided it was let past the removal budget."
    )
    callback_next_at: datetime | None = Field(None, description="The next callback attempt.")
    callback_error: str | None = Field(None, description="Why the last callback attempt failed.")
    callback_delivery: str | None = Field(
        None, description="The callback's X-Stitch-Delivery id: the same on every retry."
    )
    principal: str | None = None
    approval_id: str | None = Field(
        None, description="The approval request that holds (or held) it: /v1/approvals/{id}."
    )

    @property
    def actor(self) -> str:
        """Who the audit trail says did it: the authenticated principal (`api:airflow`,
        `scim:okta`, `python:alice`), never the body's `requested_by`. A job queued before jobs
        carried a principal says so."""
        return f"{self.source}:{self.principal or 'unknown-principal'}"

    def target_request(self) -> TargetRequest:
        """The job as its audit records name it: request id, actor, reason, requested by."""
        return TargetRequest(
            request_id=self.request_id,
            actor=self.actor,
            reason=self.reason,
            requested_by=self.requested_by,
        )

    def resumed_note(self, outcome: Outcome) -> str | None:
        """What the job says when an interrupted attempt most likely did the removal."""
        if self.attempts > 1 and outcome.status is OutcomeStatus.ALREADY_ABSENT:
            return (
                "verified on a fresh read after an interrupted attempt: the member is no longer "
                "active (most likely the earlier attempt removed them; see the audit trail)"
            )
        return None
