"""The sandbox's answers to write requests: a status and a JSON body with Stitch's texts."""

from __future__ import annotations

import dataclasses
from typing import Literal

WriteAction = Literal[
    "deactivate", "cancel_invitation", "resend_invitation", "invite", "set_role", "reactivate"
]
WriteOutcome = Literal["ok", "refused", "fault"]

# Answers of the write requests (docs/sandbox-dom.md "Write flows"). [P] texts unless noted; the
# same texts serve all three writes, as the contract lists one text per status.
MSG_NOT_ADMIN = "Only Administrators can deactivate team members."  # [P] text, [S] rule
MSG_LAST_ADMIN = "An account must have at least one Administrator."  # [P] text, [D] rule
MSG_SELF = "You can't deactivate yourself."  # [P]
MSG_NO_SUCH_MEMBER = "This team member no longer exists."  # [P]
MSG_SERVER_ERROR = "Something went wrong. Please try again."  # [P]

# The member lifecycle (docs/sandbox-dom.md "Member lifecycle"): [P] texts unless noted.
MSG_INVITE_NOT_ADMIN = "Only Administrators can invite new users."  # [P] text, [S] rule
MSG_ROLE_NOT_ADMIN = "Only Administrators can change roles."
MSG_REACTIVATE_NOT_ADMIN = "Only Administrators can reactivate team members."  # [S] permission
MSG_EMAIL_REQUIRED = "Email is required"
MSG_EMAIL_INVALID = "Please enter a valid email address"
MSG_ALREADY_MEMBER = "This person is already a member of this account."
MSG_OTHER_ACCOUNT = "This email address is already associated with an active user."  # [S] API
MSG_OWN_ROLE = "You can't change your own role."
MSG_UNKNOWN_ROLE = "Choose Administrator or General User."
MSG_LEGACY_ROLE = "Roles are assigned automatically."  # legacy: no role control [S-old rule]


def seat_limit_message(plan: str, limit: int) -> str:
    """409 for an invite or a reactivation past the plan's seats ([P] text, [S] limits)."""
    return f"Your {plan} plan allows {limit} users."


_ERROR_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    500: "InternalServerError",
}


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """The HTTP answer to one write request: a status and its JSON body."""

    status: int
    body: dict[str, object]

    @classmethod
    def ok(cls, **extra: object) -> WriteResult:
        return cls(200, {"ok": True, **extra})

    @classmethod
    def error(cls, status: int, message: str | None) -> WriteResult:
        body: dict[str, object] = {"code": _ERROR_CODES[status]}
        if message is not None:
            body["message"] = message
        return cls(status, body)
