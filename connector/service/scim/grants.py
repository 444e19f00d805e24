"""SCIM provisioning: POST /Users invites, `active` true reactivates, `roles` sets the role.

Each is one run of the same core as every other write (App.remove with grants): planned, guarded
(STITCH_INVITE_DOMAINS, the grant budget, Administrator only with
STITCH_SCIM_MAY_GRANT_ADMINISTRATOR), clicked once, proven by a fresh read and audited with the
SCIM principal as actor. Runs take the service's browser one at a time (StitchRuns), so a grant
waits for an offboarding batch in progress.

Roles travel in the SCIM `roles` attribute (RFC 7643 §4.1.2), whose values /Schemas publishes:
Entra ID maps an app role to `roles[primary eq "True"].value`, and Okta sends `roles` from the
app's profile; the primary value (else the first) is the role. "Invoice Admin" is shown, never
assigned.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from scim2_models import User

from connector.errors import (
    ConnectorError,
    LockHeld,
    PolicyRefused,
    SessionExpired,
    TransientFailure,
)
from connector.models import Grant, Outcome, OutcomeStatus, Role, TargetRequest
from connector.policy import explain
from connector.service.auth import principal_of
from connector.service.scim.errors import RETRY_AFTER_S, ScimError
from connector.service.state import Service

ROLE_VALUES = tuple(r.value for r in Role)
_SHOWN_ONLY = "Invoice Admin"


def role_asked(user: User[Any]) -> Role | None:
    """The role a SCIM User asks for: its primary `roles` value, else its first; None if none."""
    values = [r for r in user.roles or [] if r.value and r.value != _SHOWN_ONLY]
    if not values:
        return None
    chosen = next((r for r in values if r.primary), values[0])
    if chosen.value not in ROLE_VALUES:
        raise ScimError(
            400, f"unknown role {chosen.value!r}: one of {', '.join(ROLE_VALUES)}", "invalidValue"
        )
    return Role(chosen.value)


def grant_of(service: Service, kind: str, role: Role | None = None) -> Grant:
    allowed = service.settings.scim_may_grant_administrator
    if kind == "invite":
        return Grant(kind="invite", role=role, allow_administrator=allowed)
    if kind == "set_role":
        return Grant(kind="set_role", role=role, allow_administrator=allowed)
    # An IdP reactivating a user wants them back: where Stitch no longer lists deactivated
    # members, that means inviting them again ("simply re-add them", Stitch docs).
    return Grant(kind="reactivate", invite_if_absent=True)


async def run_grant(request: Request, service: Service, email: str, grant: Grant) -> Outcome:
    """One grant, in its own run; its outcome, or a ScimError for what stopped the run."""
    asked = TargetRequest(
        request_id=f"scim-{uuid.uuid4().hex}",
        actor=f"scim:{principal_of(request).name}",
        reason=f"SCIM {request.method} {request.url.path}",
        requested_by="scim",
    )
    try:
        async with service.queue.worker.runs.run("serve: scim", trace="writes") as run:
            done = await service.app.remove(
                {email: asked},
                run,
                should_stop=None,
                override_budget=False,
                grants=[(email, grant)],
            )
    except PolicyRefused as exc:
        raise ScimError(
            403, f"refused by policy ({exc.rule}): {exc}. Nothing was changed."
        ) from None
    except (LockHeld, TransientFailure, SessionExpired) as exc:  # worth the IdP's retry
        raise ScimError(
            503, f"{exc}; nothing was changed, try again", headers={"Retry-After": RETRY_AFTER_S}
        ) from None
    except ConnectorError as exc:  # the audit trail, the configuration, the page: for a person
        raise ScimError(500, f"{exc.kind}: {exc}. {exc.hint}".strip()) from None
    if done.roster is not None:
        service.queue.worker.after_writes(done.roster, [])
    (outcome,) = done.outcomes
    return outcome


class Held(Exception):
    """An approval rule holds the write for a second person: answered 202 (users.py)."""

    def __init__(self, approval_id: str | None) -> None:
        super().__init__(approval_id)
        self.approval_id = approval_id


def raise_unless_done(outcome: Outcome) -> None:
    """A ScimError for an outcome that is not success, each with its own status; Held for a
    write that waits for approval."""
    status, reason = outcome.status, outcome.reason or ""
    if status.ok:
        return
    if status is OutcomeStatus.PENDING_APPROVAL:
        raise Held(outcome.approval_id)
    if status is OutcomeStatus.REFUSED:
        why = explain(outcome.rule) or reason or "refused"
        raise ScimError(403, f"refused by policy ({outcome.rule}): {why}. Nothing was changed.")
    if status is OutcomeStatus.NOT_FOUND:
        raise ScimError(404, f"no member {outcome.email} in Stitch: {explain(outcome.rule)}")
    if status is OutcomeStatus.UNKNOWN:
        raise ScimError(
            500,
            f"the outcome is unknown: the click happened but nothing proved its effect; check "
            f"{outcome.email} in Stitch by hand ({reason})",
        )
    if "already" in reason.lower():  # "already associated with an active user" [S]: elsewhere
        raise ScimError(409, f"Stitch refused: {reason}", "uniqueness")
    raise ScimError(403 if reason else 500, f"Stitch refused: {reason or 'no reason shown'}")
