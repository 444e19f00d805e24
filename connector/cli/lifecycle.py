"""`invite`, `set-role`, `reactivate` and `resend`: the rest of the member lifecycle, planned,
guarded, proven and audited exactly like a removal (one plan, one apply, one audit trail)."""

from __future__ import annotations

from enum import StrEnum

import typer

from connector.cli.writes import ACTOR_HELP, change_now
from connector.grant_policy import requested_grants
from connector.models import Grant, Role

_DRY = typer.Option(False, "--dry-run", help="Say what would happen; click nothing.")
_YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
_REASON = typer.Option(None, help="Why (kept in the audit trail).")
_REQUEST = typer.Option(None, help="The caller's id for this request.")
_ACTOR = typer.Option(None, help=ACTOR_HELP)
_JSON = typer.Option(False, "--json", help="Print the outcomes as JSON.")
_BUDGET = typer.Option(
    False, "--override-budget", help="Allow more grants than the budget, for this run."
)
_ADMIN = typer.Option(
    False,
    "--allow-administrator",
    help="Needed to invite as, promote to, or reactivate an Administrator (refused without it).",
)


class RoleChoice(StrEnum):
    ADMINISTRATOR = "Administrator"
    GENERAL_USER = "General User"


def invite(
    emails: list[str] = typer.Argument(..., help="Emails to invite (exact)."),
    role: RoleChoice = typer.Option(RoleChoice.GENERAL_USER, help="The role to invite with."),
    name: str | None = typer.Option(None, help="The name, where the form asks for one."),
    allow_administrator: bool = _ADMIN,
    dry_run: bool = _DRY,
    yes: bool = _YES,
    reason: str | None = _REASON,
    request_id: str | None = _REQUEST,
    override_budget: bool = _BUDGET,
    actor: str | None = _ACTOR,
    as_json: bool = _JSON,
) -> None:
    """Add a Team Member: send an invitation, proven by a pending row with the role asked.

    Only to domains in STITCH_INVITE_DOMAINS (none by default: every invitation is refused
    until you set it). Someone already active or invited is reported, not invited again.
    Examples:

      STITCH_INVITE_DOMAINS=example.com stitch-connector invite --dry-run new@example.com

      stitch-connector invite --yes --role Administrator --allow-administrator lead@example.com
    """
    grant = Grant(
        kind="invite", role=Role(role.value), name=name, allow_administrator=allow_administrator
    )
    _change(
        emails, grant, "Invite", dry_run, yes, reason, request_id, override_budget, actor, as_json
    )


def set_role(
    emails: list[str] = typer.Argument(..., help="Members (active or invited) to change."),
    role: RoleChoice = typer.Option(..., help="The role they should have."),
    allow_administrator: bool = _ADMIN,
    dry_run: bool = _DRY,
    yes: bool = _YES,
    reason: str | None = _REASON,
    request_id: str | None = _REQUEST,
    override_budget: bool = _BUDGET,
    actor: str | None = _ACTOR,
    as_json: bool = _JSON,
) -> None:
    """Change members' role with the row's role dropdown, proven by a fresh read.

    Promoting needs --allow-administrator. Demoting is refused for whoever a removal is
    refused for (yourself, the last Administrator, SSO Admins, STITCH_PROTECTED_*). A member
    who already has the role is `unchanged`. Example:

      stitch-connector set-role --role "General User" --yes former-lead@example.com
    """
    grant = Grant(kind="set_role", role=Role(role.value), allow_administrator=allow_administrator)
    verb = f"Set the role {role.value} for"
    _change(emails, grant, verb, dry_run, yes, reason, request_id, override_budget, actor, as_json)


def reactivate(
    emails: list[str] = typer.Argument(..., help="Deactivated members to restore."),
    invite_if_absent: bool = typer.Option(
        False,
        "--invite-if-absent",
        help="Where the list no longer shows deactivated members, invite them again instead.",
    ),
    allow_administrator: bool = _ADMIN,
    dry_run: bool = _DRY,
    yes: bool = _YES,
    reason: str | None = _REASON,
    request_id: str | None = _REQUEST,
    override_budget: bool = _BUDGET,
    actor: str | None = _ACTOR,
    as_json: bool = _JSON,
) -> None:
    """Reactivate deactivated members (where Stitch keeps them listed), proven by an Active row.

    Only to domains in STITCH_INVITE_DOMAINS; an Administrator comes back as one only with
    --allow-administrator. --invite-if-absent invites only someone who was a member. Example:

      stitch-connector reactivate --yes --invite-if-absent back@example.com
    """
    grant = Grant(
        kind="reactivate",
        invite_if_absent=invite_if_absent,
        allow_administrator=allow_administrator,
    )
    _change(
        emails,
        grant,
        "Reactivate",
        dry_run,
        yes,
        reason,
        request_id,
        override_budget,
        actor,
        as_json,
    )


def resend(
    emails: list[str] = typer.Argument(..., help="Pending invitations to send again."),
    dry_run: bool = _DRY,
    yes: bool = _YES,
    reason: str | None = _REASON,
    request_id: str | None = _REQUEST,
    override_budget: bool = _BUDGET,
    actor: str | None = _ACTOR,
    as_json: bool = _JSON,
) -> None:
    """Resend invitations ("good for one attempt only" [Stitch docs]). Nothing a read can see
    changes: the outcome rests on Stitch's own success message, and is unknown without it.
    Example:

      stitch-connector resend --yes invited@example.com
    """
    grant = Grant(kind="resend_invitation")
    verb = "Resend the invitation of"
    _change(emails, grant, verb, dry_run, yes, reason, request_id, override_budget, actor, as_json)


def _change(
    emails: list[str],
    grant: Grant,
    verb: str,
    dry_run: bool,
    yes: bool,
    reason: str | None,
    request_id: str | None,
    override_budget: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    grants = requested_grants([(e, grant) for e in emails])  # before any browser starts
    change_now(
        [],
        grants,
        f"{verb} {len(grants)} address(es): {', '.join(e for e, _ in grants)}?",
        dry_run=dry_run,
        yes=yes,
        reason=reason,
        request_id=request_id,
        override_budget=override_budget,
        actor=actor,
        as_json=as_json,
    )
