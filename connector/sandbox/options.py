"""The sandbox's start options: one frozen, validated value object.

Bad values raise `connector.errors.ConfigError` (not pydantic's ValidationError) so the CLI can
report them like every other configuration problem.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any, Literal

import pydantic

from connector.errors import ConfigError

Variant = Literal["current", "rbac2022", "legacy"]
MfaMode = Literal["off", "totp"]

# Deliberately loose: it only has to reject typos and markup, not every invalid address.
EMAIL_RE = re.compile(r"^[^@\s<>\"`]+@[^@\s<>\"`]+\.[^@\s<>\"`]+$")


def is_plausible_email(value: str) -> bool:
    return EMAIL_RE.fullmatch(value) is not None


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """The first problem of a ValidationError as one line: `field: message (+N more)`."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


class SandboxOptions(pydantic.BaseModel):
    """How one sandbox instance behaves. See docs/sandbox-dom.md for what each option changes."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    variant: Variant = "current"
    members: int = 12  # total rows including the login admin; ignored when members_file is set
    seed: int = 116078
    members_file: Path | None = None
    admin_email: str = "admin@example.com"
    admin_password: str = "sandbox-password"  # noqa: S105 (a fake account's password)
    # Base32; only used when mfa == "totp". 160 bits: pyotp >= 2.10 (and so the connector's
    # settings) refuses the classic 80-bit "JBSWY3DPEHPK3PXP", which the sandbox still accepts.
    totp_secret: str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105
    mfa: MfaMode = "off"
    sso: bool = False
    session_ttl: float = (
        43200.0  # seconds; 12 h mirrors the only documented Stitch session lifetime
    )
    latency_ms: int = 150  # delay before member-data JSON answers
    fault_rate: float = 0.0  # 0..1, fraction of member-data and write requests answering 500
    client_id: int = 116078
    company_name: str = "Stitch - Doc Testing"
    host: str = "127.0.0.1"  # app origin host; the login origin is always "localhost"
    app_port: int = 0  # 0 = pick a free port
    login_port: int = 0
    lockout_threshold: int = 5
    lockout_seconds: int = 900
    # Write flows (docs/sandbox-dom.md "Write flows"), all [P]: the real behaviour is unknown.
    confirm_dialog: bool = True  # Deactivate / Cancel invitation ask for confirmation first
    keep_deactivated: bool = False  # deactivated members stay in the list (status "Deactivated")
    drop_banner: bool = False  # a successful write shows no success banner
    slow_write_ms: int = 0  # how late writes are (see slow_write_mode)
    # "answer": the write happens at once, its answer comes late (the outcome is unknown to the
    # client but a fresh read already shows it); "act": the server acts late, so a fresh read
    # right after the click still shows the member. [P]
    slow_write_mode: Literal["answer", "act"] = "answer"
    # The member lifecycle (docs/sandbox-dom.md "Member lifecycle"). Seats: None is unlimited
    # (Advanced, Premium); Standard has 5 [S]. Active members and pending invitations take one.
    seat_limit: int | None = None
    plan: str = "Standard"  # named in the seat-limit texts [P]
    # Members of a second Stitch account (client 211417, [P]): inviting one of them is refused,
    # as one email belongs to one account only [S].
    other_account_emails: tuple[str, ...] = ("analyst@other-account.example",)
    # A test device, not Stitch behaviour: the list silently shows only the first (1 - hide_rows)
    # of the members, header count to match, so only the sync's confidence gate can notice.
    hide_rows: float = 0.0
    # [P] An invented UI release, to show what `doctor` reports when Stitch changes its markup:
    # renamed row and name classes, reordered columns, relabelled buttons; ids kept
    # (docs/sandbox-dom.md "Drift").
    drift: bool = False
    # [P] The drift corpus (connector/sandbox/mutations.py, docs/sandbox-dom.md "Drift corpus"):
    # invented UI releases applied on top of the variant; switchable at run time too.
    mutations: tuple[str, ...] = ()
    # A user's own transforms (JS), served and run like the built-in ones.
    mutation_script: Path | None = None

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _as_config_error(
        cls, data: Any, handler: pydantic.ModelWrapValidatorHandler[SandboxOptions]
    ) -> SandboxOptions:
        # ConfigError is not a ValueError, so pydantic lets it through unwrapped.
        try:
            options = handler(data)
        except pydantic.ValidationError as exc:
            raise ConfigError(f"sandbox option {describe_validation_error(exc)}") from exc
        # Cross-field checks live here: an "after" validator would run outside this wrapper.
        if options.app_port and options.app_port == options.login_port:
            raise ConfigError("sandbox options app_port and login_port must differ")
        return options

    @pydantic.field_validator("mutations")
    @classmethod
    def _check_mutations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from connector.sandbox.mutations import check_names  # imports this module

        try:
            return check_names(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @pydantic.field_validator("mutation_script")
    @classmethod
    def _check_mutation_script(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"not a readable file: {value}")
        return value

    @pydantic.field_validator("members")
    @classmethod
    def _check_members(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError(f"must be between 1 and 100000 (got {value})")
        return value

    @pydantic.field_validator("admin_email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if not is_plausible_email(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @pydantic.field_validator("seat_limit")
    @classmethod
    def _check_seat_limit(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 100_000:
            raise ValueError(f"must be between 1 and 100000 (got {value})")
        return value

    @pydantic.field_validator("other_account_emails")
    @classmethod
    def _check_other_emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not is_plausible_email(email.strip()):
                raise ValueError(f"not an email address: {email!r}")
        return tuple(email.strip().lower() for email in value)

    @pydantic.field_validator("admin_password", "company_name", "host", "plan")
    @classmethod
    def _check_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @pydantic.field_validator("totp_secret")
    @classmethod
    def _check_base32(cls, value: str) -> str:
        cleaned = value.replace(" ", "").upper()
        try:
            base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
        except (binascii.Error, ValueError):
            raise ValueError("must be a base32 string (A-Z, 2-7)") from None
        if len(cleaned) < 16:
            raise ValueError("must be at least 16 base32 characters")
        return cleaned

    @pydantic.field_validator("session_ttl")
    @classmethod
    def _check_ttl(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be > 0 seconds (got {value})")
        return value

    @pydantic.field_validator("latency_ms", "slow_write_ms")
    @classmethod
    def _check_latency(cls, value: int) -> int:
        if not 0 <= value <= 60_000:
            raise ValueError(f"must be between 0 and 60000 ms (got {value})")
        return value

    @pydantic.field_validator("fault_rate", "hide_rows")
    @classmethod
    def _check_fault_rate(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"must be between 0 and 1 (got {value})")
        return value

    @pydantic.field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: int) -> int:
        # The connector finds the id with /client/(\d{3,7}); stay inside what it can read.
        if not 100 <= value <= 9_999_999:
            raise ValueError(f"must have 3 to 7 digits (got {value})")
        return value

    @pydantic.field_validator("app_port", "login_port")
    @classmethod
    def _check_port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"must be between 0 and 65535 (got {value})")
        return value

    @pydantic.field_validator("lockout_threshold", "lockout_seconds")
    @classmethod
    def _check_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be >= 1 (got {value})")
        return value
