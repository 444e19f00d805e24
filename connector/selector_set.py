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
    ui: tuple[UiVersion, ...] = ()

    @model_validator(mode="after")
    def _one_strategy(self) -> Alternative:
        chosen = [k for k in ("css", "role", "label", "text") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(f"needs exactly one of css/role/label/text, got {chosen or 'none'}")
        if self.name is not None and self.role is None:
            raise ValueError("'name' goes with 'role'")
        if self.role is not None and self.name is None:
            raise ValueError("a role alternative needs the element's exact accessible 'name'")
        return self

    def describe(self) -> str:
        if self.css is not None:
            return f"css={self.css}"
        if self.role is not None:
            return f"role={self.role}[name={self.name!r}]"
        if self.label is not None:
            return f"label={self.label!r}"
        return f"text={self.text!r}"


class Element(_Strict):
    required: bool = True
    alternatives: tuple[Alternative, ...] = Field(min_length=1)


class SigninRules(_Strict):
    sso_url_patterns: tuple[str, ...] = Field(min_length=1)
    lockout_patterns: tuple[str, ...] = Field(min_length=1)


class Banners(_Strict):
    """Exact success texts that prove a write was accepted."""

    deactivated: tuple[str, ...] = Field(min_length=1)
    invitation_cancelled: tuple[str, ...] = Field(min_length=1)
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


class ExtractTexts(_Strict):
    no_name: tuple[str, ...]
    require_member_count: bool
    member_count_pattern: str
    page_status_pattern: str

    @field_validator("member_count_pattern")
    @classmethod
    def _one_number(cls, value: str) -> str:
        if re.compile(value).groups < 1:
            raise ValueError("needs a capture group for the number")
        return value

    @field_validator("page_status_pattern")
    @classmethod
    def _two_numbers(cls, value: str) -> str:
        if re.compile(value).groups < 2:
            raise ValueError("needs two capture groups: this page, and the number of pages")
        return value


class Extract(_Strict):
    """CSS-only selectors handed to the one page.evaluate() that reads a page of members."""

    table: CssList = Field(min_length=1)
    header_cell: CssList = Field(min_length=1)
    row: CssList = Field(min_length=1)
    cell: CssList = Field(min_length=1)
    name_text: CssList = Field(min_length=1)
    self_marker: CssList = Field(min_length=1)
    role_select: CssList = Field(min_length=1)
    invoice_admin_badge: CssList = Field(min_length=1)
    spinner: CssList = Field(min_length=1)
    empty_state: CssList = Field(min_length=1)
    load_error: CssList = Field(min_length=1)
    member_count: CssList = Field(min_length=1)
    page_status: CssList = Field(min_length=1)
    next_button: CssList = Field(min_length=1)
    columns: Columns
    roles: dict[str, Literal["Administrator", "General User"]] = Field(min_length=1)
    statuses: dict[str, Literal["active", "pending", "deactivated"]] = Field(min_length=1)
    text: ExtractTexts


class SelectorSet(_Strict):
    schema_: Literal[1] = Field(alias="schema")
    version: str = Field(min_length=1)
    ui_versions: tuple[UiVersion, ...]
    elements: dict[ElementName, Element]
    signin: SigninRules
    banners: Banners
    app: AppRules
    extract: Extract

    @model_validator(mode="after")
    def _all_elements_present(self) -> SelectorSet:
        missing = set(ElementName.__args__) - set(self.elements)  # type: ignore[attr-defined]
        if missing:
            raise ValueError(f"elements missing: {', '.join(sorted(missing))}")
        for name in IN_PAGE_SCRIPTS:
            if not self.css_alternatives(name):
                raise ValueError(f"elements.{name} needs a css alternative (used inside the page)")
        return self

    def css_alternatives(self, name: ElementName) -> list[str]:
        return [a.css for a in self.elements[name].alternatives if a.css is not None]

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
