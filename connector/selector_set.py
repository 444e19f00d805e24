"""Load selectors/stitch.toml into a validated SelectorSet.

The file is data: a bad file fails at load time with the element named, never mid-run.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.errors import ConfigError

UiVersion = Literal["current", "rbac2022", "legacy"]
ElementName = Literal[
    "signin_email",
    "signin_continue",
    "signin_password",
    "signin_password_submit",
    "signin_totp",
    "signin_totp_submit",
    "signin_error",
    "sso_marker",
    "app_user_menu",
    "app_settings_item",
    "settings_members_tab",
    "members_container",
    "row_menu_button",
    "row_deactivate_button",
    "menu_deactivate",
    "menu_cancel_invitation",
    "row_cancel_invitation_button",
    "confirm_dialog",
    "confirm_deactivate",
    "confirm_cancel_invitation",
    "dialog_dismiss",
    "banner_success",
    "banner_error",
    "add_member_button",
    "invite_dialog",
    "invite_email",
    "invite_name",
    "invite_role",
    "send_invitation",
    "invite_error",
    "invite_cancel",
    "row_role_select",
    "menu_reactivate",
    "row_reactivate_button",
    "menu_resend_invitation",
    "row_resend_invitation_button",
]

# Elements that roster_state.js checks inside the page, where only CSS works.
IN_PAGE_SCRIPTS: tuple[ElementName, ...] = (
    "members_container",
    "signin_email",
    "signin_password",
    "signin_totp",
    "sso_marker",
)

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheel: connector/_selectors. Source checkout (editable install): ../selectors.
_CANDIDATES = (_PACKAGE_DIR / "_selectors", _PACKAGE_DIR.parent / "selectors")


CssList = tuple[str, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Alternative(_Strict):
    """One way to find an element. Exactly one strategy is set."""

    css: str | None = None
    role: str | None = None
    name: str | None = None
    label: str | None = None
    text: str | None = None
    # Case-insensitive regular expressions, for things whose exact wording varies (a cookie
    # banner's title): `name_pattern` goes with `role`, `text_pattern` is a strategy of its own.
    name_pattern: str | None = None
    text_pattern: str | None = None
    ui: tuple[UiVersion, ...] = ()
    # false: a CSS alternative too generic for the in-page "is this a sign-in page?" check
    # (IN_PAGE_SCRIPTS, which sees hidden elements too): an app page's form could match it.
    in_page: bool = True

    @model_validator(mode="after")
    def _one_strategy(self) -> Alternative:
        strategies = ("css", "role", "label", "text", "text_pattern")
        chosen = [k for k in strategies if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(f"needs exactly one of css/role/label/text, got {chosen or 'none'}")
        if (self.name is not None or self.name_pattern is not None) and self.role is None:
            raise ValueError("'name' goes with 'role'")
        if self.role is not None and (self.name is None) == (self.name_pattern is None):
            raise ValueError(
                "a role alternative needs the element's exact accessible 'name' "
                "(or a 'name_pattern')"
            )
        for pattern in (self.name_pattern, self.text_pattern):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return self

    def describe(self) -> str:
        if self.css is not None:
            return f"css={self.css}"
        if self.role is not None and self.name_pattern is not None:
            return f"role={self.role}[name~/{self.name_pattern}/i]"
        if self.role is not None:
            return f"role={self.role}[name={self.name!r}]"
        if self.label is not None:
            return f"label={self.label!r}"
        if self.text_pattern is not None:
            return f"text~/{self.text_pattern}/i"
        return f"text={self.text!r}"


class Element(_Strict):
    required: bool = True
    alternatives: tuple[Alternative, ...] = Field(min_length=1)


Where = Literal["signin", "app"]

# Words a dismiss action must not contain: it takes the safe way out (decline, reject, close,
# "No"), never one that accepts, agrees, opts in or changes the account.
_UNSAFE_DISMISS = re.compile(
    r"\b(accept|allow|agree|yes|enable|opt.?in|subscribe|upgrade|confirm|save|submit|"
    r"continue|deactivate|delete|remove|stay signed in|keep me signed in|remember)",
    re.IGNORECASE,
)


class Interruption(_Strict):
    """Something that can cover a page (a cookie banner, an interstitial, a "what's new" modal):
    how to tell it is there, and the safe way to make it go away."""

    what: str = Field(min_length=1)
    where: tuple[Where, ...] = Field(min_length=1)
    detect: tuple[Alternative, ...] = Field(min_length=1)
    dismiss: tuple[Alternative, ...] = Field(min_length=1)

    @field_validator("dismiss")
    @classmethod
    def _safe_dismiss(cls, value: tuple[Alternative, ...]) -> tuple[Alternative, ...]:
        for alt in value:
            found = _UNSAFE_DISMISS.search(
                " ".join(
                    v
                    for v in (
                        alt.css,
                        alt.name,
                        alt.label,
                        alt.text,
                        alt.name_pattern,
                        alt.text_pattern,
                    )
                    if v
                )
            )
            if found:
                raise ValueError(
                    f"{alt.describe()}: a dismiss action must decline or close, "
                    f"not {found.group(0)!r}"
                )
        return value


class SigninRules(_Strict):
    sso_url_patterns: tuple[str, ...] = Field(min_length=1)
    lockout_patterns: tuple[str, ...] = Field(min_length=1)


class Banners(_Strict):
    """Exact success texts that prove a write was accepted."""

    deactivated: tuple[str, ...] = Field(min_length=1)
    invitation_cancelled: tuple[str, ...] = Field(min_length=1)
    invited: tuple[str, ...] = Field(min_length=1)  # "{email}": the address invited
    role_updated: tuple[str, ...] = Field(min_length=1)
    reactivated: tuple[str, ...] = Field(min_length=1)
    invitation_resent: tuple[str, ...] = Field(min_length=1)
    transient_errors: tuple[str, ...] = ()


class AppRules(_Strict):
    client_id_url_pattern: str
    client_id_meta: str
    company_name: CssList = Field(min_length=1)
    company_name_pattern: str

    @field_validator("client_id_url_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        if re.compile(value).groups != 1:
            raise ValueError("needs exactly one capture group for the client id")
        return value


class Columns(_Strict):
    name: tuple[str, ...] = Field(min_length=1)
    email: tuple[str, ...] = Field(min_length=1)
    role: tuple[str, ...] = Field(min_length=1)
    status: tuple[str, ...] = Field(min_length=1)
    member: tuple[str, ...] = ()
    invoice_admin: tuple[str, ...] = ()


def _patterns(values: tuple[str, ...], groups: int, what: str) -> tuple[str, ...]:
    for value in values:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        if compiled.groups != groups:
            raise ValueError(f"{value!r} needs exactly {groups} capture group(s): {what}")
        if "(?P" in value or "(?<" in value:
            raise ValueError(f"{value!r}: no named groups (the pattern also runs in the page)")
    return values


class ExtractTexts(_Strict):
    no_name: tuple[str, ...]
    self_labels: tuple[str, ...] = Field(min_length=1)
    invoice_admin_labels: tuple[str, ...] = Field(min_length=1)
    yes: tuple[str, ...] = Field(min_length=1)
    no: tuple[str, ...] = Field(min_length=1)
    pending_sections: tuple[str, ...] = ()
    require_member_count: bool
    member_count_patterns: tuple[str, ...] = Field(min_length=1)
    page_status_patterns: tuple[str, ...] = ()
    range_patterns: tuple[str, ...] = ()

    @field_validator("member_count_patterns")
    @classmethod
    def _one_number(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _patterns(value, 1, "the number of members")

    @field_validator("page_status_patterns")
    @classmethod
    def _two_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _patterns(value, 2, "this page, and the number of pages")

    @field_validator("range_patterns")
    @classmethod
    def _three_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _patterns(value, 3, "the first and last row shown, and the total")


class Invariants(_Strict):
    """What every full read of an account must satisfy (see crosscheck.py)."""

    max_invoice_admins: int = Field(1, ge=1)
    min_administrators: int = Field(1, ge=0)


class Extract(_Strict):
    """CSS-only selectors handed to the one page.evaluate() that reads a page of members."""

    table: CssList = Field(min_length=1)
    header_cell: CssList = Field(min_length=1)
    row: CssList = Field(min_length=1)
    cell: CssList = Field(min_length=1)
    email_text: CssList = ()
    email_link: CssList = Field(min_length=1)
    name_text: CssList = ()
    self_marker: CssList = ()
    invoice_admin_badge: CssList = ()
    loading: CssList = Field(min_length=1)
    empty_state: CssList = Field(min_length=1)
    load_error: CssList = Field(min_length=1)
    member_count: CssList = ()
    page_status: CssList = ()
    next_button: CssList = ()
    next_labels: tuple[str, ...] = ()
    columns: Columns
    roles: dict[str, Literal["Administrator", "General User"]] = Field(min_length=1)
    statuses: dict[str, Literal["active", "pending", "deactivated"]] = Field(min_length=1)
    text: ExtractTexts
    invariants: Invariants = Invariants()


class SelectorSet(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    version: str = Field(min_length=1)
    ui_versions: tuple[UiVersion, ...]
    elements: dict[ElementName, Element]
    signin: SigninRules
    banners: Banners
    app: AppRules
    extract: Extract
    interruptions: dict[str, Interruption] = {}

    @model_validator(mode="after")
    def _all_elements_present(self) -> SelectorSet:
        missing = set(ElementName.__args__) - set(self.elements)  # type: ignore[attr-defined]
        if missing:
            raise ValueError(f"elements missing: {', '.join(sorted(missing))}")
        for name in IN_PAGE_SCRIPTS:
            if not self.css_alternatives(name):
                raise ValueError(f"elements.{name} needs a css alternative (used inside the page)")
        for key in self.interruptions:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"interruptions.{key}: a name is lower_snake_case")
        return self

    def css_alternatives(self, name: ElementName) -> list[str]:
        """The CSS alternatives the in-page scripts use (not those marked in_page = false)."""
        return [a.css for a in self.elements[name].alternatives if a.css is not None and a.in_page]

    def element(self, name: ElementName) -> Element:
        return self.elements[name]


def default_selectors_path() -> Path:
    for folder in _CANDIDATES:
        path = folder / "stitch.toml"
        if path.is_file():
            return path
    raise ConfigError(
        "selectors/stitch.toml not found next to the package",
        hint="Reinstall stitch-connector, or set STITCH_SELECTORS_PATH.",
    )


def load_selectors(path: Path | None = None) -> SelectorSet:
    return _load(path or default_selectors_path())


@cache
def _load(path: Path) -> SelectorSet:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read selectors file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"selectors file {path} is not valid TOML: {exc}") from None
    try:
        return SelectorSet.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"selectors file {path}: {where}: {first['msg']}") from None
