"""Settings: STITCH_* environment variables, with *_FILE variants for secrets.

Secrets are SecretStr so that repr(), logs and tracebacks never show them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connector.approval_rules import ApprovalRule, ApprovalRules, load_rules
from connector.errors import ConfigError
from connector.policy import PolicyConfig
from connector.service_tokens import ServiceToken, parse_tokens

DEFAULT_BASE_URL = "https://app.stitchdata.com"

# Settings that may be given as STITCH_<NAME>_FILE (Docker and Kubernetes secrets).
FILE_BACKED = (
    "email",
    "password",
    "totp_secret",
    "service_tokens",
    "callback_secret",
    "browser_ws_endpoint",
    "browser_cdp_url",
)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stitch-connector"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STITCH_", extra="ignore", frozen=True)

    base_url: str = Field(DEFAULT_BASE_URL, description="The Stitch web app's origin.")
    email: str | None = Field(None, description="The Administrator to sign in as.")
    password: SecretStr | None = None
    totp_secret: SecretStr | None = Field(None, description="Base32 TOTP seed, if MFA asks.")
    state_dir: Path = Field(default_factory=default_state_dir)
    headless: bool = True
    browser_path: Path | None = Field(None, description="A Chromium binary to use.")
    browser_sandbox: Literal["auto", "off"] = Field(
        "auto", description="Chromium's sandbox: auto keeps it for every user but root."
    )
    timeout_ms: int = Field(30_000, ge=1_000, le=600_000, description="Per-step wait.")
    retries: int = Field(4, ge=1, le=10, description="Attempts for timeouts and 5xx.")
    selectors_path: Path | None = Field(None, description="Override selectors/stitch.toml.")
    # A remote browser instead of a local launch (README, "Remote browsers"); either may carry a
    # token in its URL, so both are secrets (and have _FILE variants).
    browser_ws_endpoint: SecretStr | None = Field(
        None, description="A Playwright browser server: ws(s)://host:port/path (chromium.connect)."
    )
    browser_cdp_url: SecretStr | None = Field(
        None, description="A Chromium speaking CDP: http(s)://host:port or ws(s)://... ."
    )

    # Watching and debugging (README, "Debugging a run").
    slow_mo_ms: int = Field(0, ge=0, le=60_000, description="Pause before each browser action.")
    devtools: bool = Field(False, description="Open DevTools (implies a visible browser).")
    trace: Literal["on", "retain-on-failure", "off"] | None = Field(
        None,
        description="Playwright trace; default: for writes from the first row lookup, kept if "
        "the run fails (tracing.TraceMode 'writes'); off for reads.",
    )
    keep_runs: int = Field(50, ge=1, description="Run folders kept under runs/.")
    keep_runs_days: float = Field(30.0, gt=0, description="Run folders older than this go.")

    # Guards for writes (policy.py). Lists are comma-separated in the environment.
    protected_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    protected_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_removals: int = Field(5, ge=0, le=10_000)
    max_fraction: float = Field(0.2, ge=0.0, le=1.0)
    max_removals_per_day: int = Field(
        20, ge=0, le=100_000, description="Proven removals in any 24 hours, all entry points."
    )
    sso_enabled: bool = Field(False, description="Administrators are then SSO Admins: protected.")
    invite_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Domains invitations and reactivations may go to; empty: none may.",
    )
    max_grants: int = Field(5, ge=0, le=10_000, description="Grants per run.")
    scim_may_grant_administrator: bool = Field(
        False, description="SCIM may invite as, or promote to, Administrator (`roles`)."
    )
    max_grants_per_day: int = Field(20, ge=0, le=100_000, description="Grants in any 24 hours.")
    write_timeout_ms: int = Field(15_000, ge=500, le=600_000, description="Click to banner.")
    # A read that comes too early proves nothing and changes nothing (one read, never a click);
    # one that comes late makes a dropped banner cost more. The sandbox's banner takes ~0.15 s;
    # a read too early is one page read beside, which ends as soon as it shows the row still there.
    early_read_ms: int = Field(
        500,
        ge=0,
        le=600_000,
        description="No banner this long after a click: read the roster on a second page while "
        "the first keeps waiting, and stop waiting if that read proves the removal (0: never).",
    )
    max_drop: float = Field(
        0.3, ge=0.0, le=1.0, description="Share of the last snapshot a new roster may lose."
    )

    # The HTTP service (README, "The offboarding service").
    service_tokens: SecretStr | None = Field(
        None,
        description="Bearer tokens, comma-separated, each NAME:SCOPE:TOKEN (scopes: read, jobs, "
        "scim, write, approve); the older `read:TOKEN`, `write:TOKEN` and bare TOKEN still work.",
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="The largest request body served."
    )
    callback_secret: SecretStr | None = Field(None, description="HMAC key for signed callbacks.")
    callback_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts, addresses and CIDRs (each with an optional :port) a callback_url may "
        "name; empty: callbacks are off.",
    )
    service_wait_s: float = Field(
        60.0, gt=0, le=600, description="How long a SCIM write waits for its job to finish."
    )

    # Approvals (approval_rules.py; README, "Approvals"): writes that wait for a second person.
    approval_rules_file: Path | None = Field(None, description="TOML: `[[rule]]` tables.")
    approve_admin_removals: bool = Field(False, description="Rule admin-removal.")
    approve_admin_grants: bool = Field(False, description="Rule admin-grant.")
    approve_over_targets: int | None = Field(None, ge=1, description="Rule bulk: more than N.")
    approve_over_budget: bool = Field(False, description="Rule over-budget: ask, not refuse.")
    approve_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    approve_principals: Annotated[list[str], NoDecode] = Field(default_factory=list)
    approval_ttl_hours: float = Field(24.0, gt=0, le=720, description="Decide within this.")
    approval_webhook_url: str | None = Field(
        None,
        description="POSTed (signed with STITCH_CALLBACK_SECRET) when a request waits "
        "and when it is decided (a Slack-compatible body); its host: in STITCH_CALLBACK_HOSTS.",
    )

    # *_FILE variants, read once at load time.
    email_file: Path | None = None
    browser_ws_endpoint_file: Path | None = None
    browser_cdp_url_file: Path | None = None
    password_file: Path | None = None
    totp_secret_file: Path | None = None
    service_tokens_file: Path | None = None
    callback_secret_file: Path | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as {DEFAULT_BASE_URL}")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} must be an origin, without a query or fragment")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    @field_validator(
        "protected_emails",
        "protected_domains",
        "allowed_domains",
        "invite_domains",
        "callback_hosts",
        "approve_domains",
        "approve_principals",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(v).strip().lower().lstrip("@") for v in value if str(v).strip()]
        return value

    @field_validator("callback_hosts")
    @classmethod
    def _check_callback_hosts(cls, value: list[str]) -> list[str]:
        from connector.offboard_queue.addresses import AllowList  # the queue delivers callbacks

        AllowList.parse(value)  # raises ValueError naming a malformed entry
        return value

    @field_validator("service_tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_tokens(value.get_secret_value())  # raises, never echoing a token
        return value

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("totp_secret")
    @classmethod
    def _check_totp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        import pyotp  # only when a secret is set

        try:
            pyotp.TOTP(value.get_secret_value().replace(" ", "")).now()
        except Exception:  # pyotp raises ValueError or binascii.Error; never echo the value
            raise ValueError("is not a usable base32 TOTP secret (at least 16 bytes)") from None
        return SecretStr(value.get_secret_value().replace(" ", ""))

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in FILE_BACKED:
            path = data.get(f"{name}_file")
            if not path or data.get(name):
                continue
            try:
                data[name] = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise ValueError(
                    f"cannot read STITCH_{name.upper()}_FILE {path}: {reason}"
                ) from None
        return data

    @field_validator("browser_ws_endpoint", "browser_cdp_url")
    @classmethod
    def _check_remote(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        schemes = ("ws", "wss") if info.field_name == "browser_ws_endpoint" else _CDP_SCHEMES
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in schemes or not parts.hostname:
            # Never echo the value: it may hold a token.
            raise ValueError(f"must be a {' or '.join(schemes)} URL with a host")
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _one_remote_browser(self) -> Settings:
        if self.browser_ws_endpoint and self.browser_cdp_url:
            raise ValueError("set STITCH_BROWSER_WS_ENDPOINT or STITCH_BROWSER_CDP_URL, not both")
        return self

    @model_validator(mode="after")
    def _check_approval_rules(self) -> Settings:
        self.approval_rules()  # a bad rules file fails at load, naming the rule at fault
        return self

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def storage_state_path(self) -> Path:
        return self.state_dir / "session.json"

    @property
    def session_identity_path(self) -> Path:
        """Whose session session.json holds: a session is reused only by the same login."""
        return self.state_dir / "session.identity.json"

    @property
    def account_cache_path(self) -> Path:
        return self.state_dir / "account.json"

    def policy(self) -> PolicyConfig:
        return PolicyConfig(
            protected_emails=frozenset(self.protected_emails),
            protected_domains=frozenset(self.protected_domains),
            allowed_domains=frozenset(self.allowed_domains),
            max_removals=self.max_removals,
            max_fraction=self.max_fraction,
            max_removals_per_day=self.max_removals_per_day,
            sso_enabled=self.sso_enabled,
            invite_domains=frozenset(self.invite_domains),
            max_grants=self.max_grants,
            max_grants_per_day=self.max_grants_per_day,
            approvals=self.approval_rules(),
        )

    def approval_rules(self) -> ApprovalRules:
        """The rules file's rules, then the STITCH_APPROVE_* shortcuts (ConfigError if bad)."""
        found = (
            load_rules(self.approval_rules_file, ttl_hours=self.approval_ttl_hours)
            if self.approval_rules_file
            else ApprovalRules(ttl_hours=self.approval_ttl_hours)
        )
        extra: list[ApprovalRule] = []
        if self.approve_admin_removals:
            extra.append(ApprovalRule(name="admin-removal", when="removes_administrator"))
        if self.approve_admin_grants:
            extra.append(ApprovalRule(name="admin-grant", when="grants_administrator"))
        if self.approve_over_targets is not None:
            extra.append(
                ApprovalRule(name="bulk", when="more_than", targets=self.approve_over_targets)
            )
        if self.approve_over_budget:
            extra.append(ApprovalRule(name="over-budget", when="over_budget"))
        if self.approve_domains:
            extra.append(
                ApprovalRule(name="domains", when="domain", domains=frozenset(self.approve_domains))
            )
        if self.approve_principals:
            extra.append(
                ApprovalRule(
                    name="principals",
                    when="principal",
                    principals=frozenset(self.approve_principals),
                )
            )
        try:
            return ApprovalRules(rules=(*found.rules, *extra), ttl_hours=found.ttl_hours)
        except ValidationError as exc:
            raise ConfigError(f"approval rules: {exc.errors()[0]['msg']}") from None

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @property
    def last_roster_path(self) -> Path:
        return self.state_dir / "last-roster.json"

    def secrets(self) -> list[str]:
        """Every secret value, for the log redactor and artifact checks."""
        held = (self.password, self.totp_secret, self.service_tokens, self.callback_secret)
        found = [s.get_secret_value() for s in held if s is not None]
        found += [t.token for t in self.tokens()]  # each alone, as a request carries it
        found += _url_secrets(self.remote_browser_url)
        return [s for s in found if s]

    @property
    def remote_browser_url(self) -> str | None:
        """The remote browser's URL (a secret: its token), None when Chromium is launched here."""
        remote = self.browser_ws_endpoint or self.browser_cdp_url
        return remote.get_secret_value() if remote else None

    def tokens(self) -> list[ServiceToken]:
        """The service's bearer tokens with their names and scopes (validated at load)."""
        if self.service_tokens is None:
            return []
        return parse_tokens(self.service_tokens.get_secret_value())

    def require_credentials(self) -> tuple[str, SecretStr]:
        if not self.email:
            raise ConfigError(
                "no email to sign in with",
                hint="Set STITCH_EMAIL (or STITCH_EMAIL_FILE) to a Stitch Administrator's email.",
            )
        if self.password is None or not self.password.get_secret_value():
            raise ConfigError(
                "no password to sign in with",
                hint="Set STITCH_PASSWORD or STITCH_PASSWORD_FILE (a file holding the password); "
                "for an SSO-only account, run `stitch-connector login --interactive` once.",
            )
        return self.email, self.password


_CDP_SCHEMES = ("http", "https", "ws", "wss")


def _url_secrets(url: str | None) -> list[str]:
    """A URL's own secrets: the whole of it, its password and query values (tokens)."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [url, parts.password or ""]
    found += [v for _, v in parse_qsl(parts.query) if len(v) >= 8]
    return found


def redacted_origin(url: str) -> str:
    """A remote browser's URL as a log line may show it: scheme, host and port only."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


_DEBUG_TIMEOUT_MS = 600_000  # PWDEBUG: a person steps through; the longest wait settings allow


def load_settings(*, unset: Iterable[str] = (), **overrides: Any) -> Settings:
    """Build Settings from the environment plus overrides; any problem becomes one ConfigError.
    An override of None is no override; `unset` names settings the environment may not give
    (an account's credentials: accounts.py).

    With PWDEBUG set (Playwright's Inspector), the browser is visible and waits are as long as
    settings allow, as Playwright does in debug mode: a person pausing must not time out."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    clean = {**dict.fromkeys(unset), **clean}
    if os.environ.get("PWDEBUG"):
        for name in ("timeout_ms", "write_timeout_ms"):
            if f"STITCH_{name.upper()}" not in os.environ:
                clean.setdefault(name, _DEBUG_TIMEOUT_MS)
        if "STITCH_HEADLESS" not in os.environ:
            clean.setdefault("headless", False)
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        env = f"STITCH_{where.upper()}" if first["loc"] else "settings"
        raise ConfigError(f"{env}: {message}") from None
