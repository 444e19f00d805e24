"""The error taxonomy. Every error the connector raises on purpose is a ConnectorError.

Each class carries the process exit code the CLI uses for it, and a `hint` that tells the user what
to do next. The codes are part of the public contract (README, "Exit codes"): schedulers alert
on them.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: an error we did not plan for
    USAGE = 2  # bad command-line input (click/typer's own code)
    CONFIG = 3  # bad settings, secret files or input files
    AUTH_FAILED = 4  # wrong credentials or locked out; never retried
    HUMAN_NEEDED = 5  # SSO or MFA that a machine cannot complete
    SESSION_EXPIRED = 6  # signed out and could not sign in again
    PAGE_NOT_RECOGNISED = 7  # the UI is not what the selectors describe (drift)
    TRANSIENT = 8  # timeouts or 5xx that outlasted the retries
    POLICY_REFUSED = 9  # a guard refused the request (or a target): nothing was clicked for it
    LOCKED = 10  # another write run holds this account's lock
    PLAN_STALE = 11  # the roster changed since the plan was made
    ACTION_FAILED = 12  # a removal failed; a fresh read shows the member still there
    OUTCOME_UNKNOWN = 13  # a click happened but nothing proved its effect: check by hand
    AUDIT_BROKEN = 14  # `audit verify` found an edited, missing or reordered record
    CONFIDENCE_GATE = 15  # a scrape lost too much of the last roster: not stored (likely drift)
    IDEMPOTENCY_CONFLICT = 16  # a request id reused with a different request
    NOT_FOUND = 17  # an address never on the roster (a typo?): not success, nothing was clicked
    APPROVAL_PENDING = 18  # an approval rule holds a write for a second person: nothing clicked
    APPROVAL_REFUSED = 19  # an approval decision not allowed: your own request, or it is closed


# Printed with exit 17 (an outcome, not an exception: the rest of the run went on).
NOT_FOUND_HINT = (
    "An address that was never a member (no stored snapshot, accepted roster or audit record has "
    "it) is most likely a typo: the person's real address may still have access. Check the address "
    "against `stitch-connector members` and ask again."
)


class ConnectorError(Exception):
    """Base class. `str(err)` is one line for humans; `hint` says what to do next."""

    exit_code: ExitCode = ExitCode.INTERNAL
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint
        self.artifacts: list[Path] = []  # evidence files, printed by the CLI

    @property
    def kind(self) -> str:
        return type(self).__name__


class UsageProblem(ConnectorError):
    """Command-line input that cannot work together, found after parsing."""

    exit_code = ExitCode.USAGE
    hint = "See the command's --help."


class ConfigError(ConnectorError):
    exit_code = ExitCode.CONFIG
    hint = "Check the STITCH_* settings (see README, Configuration)."


class AuthFailed(ConnectorError):
    exit_code = ExitCode.AUTH_FAILED
    hint = (
        "Check STITCH_EMAIL and STITCH_PASSWORD. The connector never retries a rejected password, "
        "so it cannot trip the lockout on its own."
    )


class HumanNeeded(ConnectorError):
    """SSO or an MFA step that needs a person: waiting would only time out."""

    exit_code = ExitCode.HUMAN_NEEDED
    hint = (
        "Sign in as an Administrator with a Stitch password (Administrators keep password login "
        "under SSO), or set STITCH_TOTP_SECRET for a TOTP prompt."
    )


class SessionExpired(ConnectorError):
    exit_code = ExitCode.SESSION_EXPIRED
    hint = "The session ended and signing in again did not restore it. Run the command again."


class PageNotRecognised(ConnectorError):
    """The page is not what the selectors describe. Never reported as an empty roster."""

    exit_code = ExitCode.PAGE_NOT_RECOGNISED
    hint = (
        "Stitch's UI may have changed. Look at the saved screenshot and HTML, then update "
        "selectors/stitch.toml (README, 'Stitch changed its UI')."
    )

    def __init__(
        self,
        message: str,
        *,
        element: str | None = None,
        url: str | None = None,
        artifacts: list[Path] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.element = element
        self.url = url
        self.artifacts: list[Path] = list(artifacts or [])


class TransientFailure(ConnectorError):
    exit_code = ExitCode.TRANSIENT
    hint = "Stitch (or the network) kept failing; the run was retried and gave up. Try again later."


class PolicyRefused(ConnectorError):
    """A guard refused the whole request before any click."""

    exit_code = ExitCode.POLICY_REFUSED
    hint = (
        "Nothing was changed. Check the request; an over-budget run that a human has reviewed "
        "can pass --override-budget."
    )

    def __init__(self, message: str, *, rule: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rule = rule


class LockHeld(ConnectorError):
    exit_code = ExitCode.LOCKED
    hint = "Another write run is working on this account. Wait for it; reads are not blocked."


class LockLost(LockHeld):
    """This run no longer holds the write lock it took (the lock file was deleted or replaced,
    or a later run took a newer fencing token): it must not click."""

    hint = (
        "Something removed or replaced <state dir>/write.lock while this run held it, so another "
        "run may be writing. Nothing more was clicked by this run; never delete write.lock by hand "
        "(the kernel releases it when a run ends). Check `stitch-connector audit show`, then run "
        "again."
    )


class AuditBroken(ConnectorError):
    """The audit trail fails verification (edited, truncated, missing, or not JSON): every write
    is refused until a person has looked."""

    exit_code = ExitCode.AUDIT_BROKEN
    hint = (
        "Nothing was clicked. Run `stitch-connector audit verify` to see the first broken record, "
        "and keep the files as evidence. Then restore audit.jsonl and audit.jsonl.head from a "
        "backup, or, once the incident is investigated, move both aside to start a new trail "
        "(README, 'Removing members safely')."
    )


class PlanStale(ConnectorError):
    exit_code = ExitCode.PLAN_STALE
    hint = "The roster changed since the plan was made. Make a new plan and review it."


class ConfidenceGate(ConnectorError):
    """A scrape that lost too much of the previous roster: not stored, kept as evidence."""

    exit_code = ExitCode.CONFIDENCE_GATE
    hint = (
        "This is far likelier UI drift (rows the page no longer shows) than a mass exodus, so the "
        "roster was not stored. Check the saved roster against Stitch by hand; if it is right, "
        "run again with --accept-drop."
    )

    def __init__(
        self, message: str, *, artifacts: list[Path] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.artifacts: list[Path] = list(artifacts or [])


class IdempotencyConflict(ConnectorError):
    """A request id that was already used for a different request (HTTP 409)."""

    exit_code = ExitCode.IDEMPOTENCY_CONFLICT
    hint = (
        "A request id names one request forever: retry with exactly the same fields, or use a "
        "new request id for a new request."
    )


class ApprovalUnknown(UsageProblem):
    """No approval request by that id (HTTP 404)."""

    hint = "`stitch-connector approvals list` (or GET /v1/approvals) shows the requests."


class ApprovalRefused(ConnectorError):
    """A decision that may not be made."""

    exit_code = ExitCode.APPROVAL_REFUSED


class OwnRequest(ApprovalRefused):
    """The requester approving their own request: four eyes (HTTP 403)."""

    hint = "Another person approves it: a different token (scope approve), or --as another name."


class ApprovalClosed(ApprovalRefused):
    """A request already rejected, expired, refused or superseded (HTTP 409)."""

    hint = "Nothing was changed. Ask again (the same command, or the same request) if still needed."
