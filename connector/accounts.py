"""Many Stitch accounts: an accounts file (TOML) names each one, with its own settings.

    [defaults]                                  # optional: what every account shares
    max_removals_per_day = 20

    [accounts.na]
    base_url = "https://app.stitchdata.com"
    email_file = "/run/secrets/na/email"
    password_file = "/run/secrets/na/password"
    protected_emails = ["ceo@example.com"]

    [accounts.eu]
    base_url = "https://app.eu-central-1.stitchdata.com"    # [P] invented: the docs give only
                                                # the EU API host, api.eu-central-1.stitchdata.com
    email = "stitch-admin@example.com"
    password_file = "/run/secrets/eu/password"
    state_dir = "/var/lib/stitch-connector/eu"

Each account's table holds Settings fields by their STITCH_* name, lower-cased, without the
prefix. Its state (snapshots, audit trail, lock, jobs, approvals, session) is its own: by default
`<STITCH_STATE_DIR>/accounts/<name>`, and two accounts never share one. Secrets come only from
files (`password_file`, `totp_secret_file`, ...), never inline; and an account never inherits the
environment's credentials (a second account signing in with the first one's password would be
a lockout waiting to happen).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from connector.errors import ConfigError, UsageProblem
from connector.settings import FILE_BACKED, Settings, load_settings

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")  # in paths, URLs, metric labels, k8s names
_INLINE_SECRETS = tuple(name for name in FILE_BACKED if name != "email")  # files only
_CREDENTIALS = (
    "email",
    "email_file",
    "password",
    "password_file",
    "totp_secret",
    "totp_secret_file",
)
_HINT = "See the README, 'Many accounts'; nothing was changed."


def accounts_file() -> Path | None:
    """STITCH_ACCOUNTS_FILE, or None: one account, from STITCH_* alone."""
    raw = os.environ.get("STITCH_ACCOUNTS_FILE", "").strip()
    return Path(raw) if raw else None


def load_accounts(path: Path) -> dict[str, dict[str, Any]]:
    """Each account's settings (defaults merged in), checked whole: ConfigError naming the
    account and key at fault."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the accounts file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the accounts file {path} is not TOML: {exc}", hint=_HINT) from None
    unknown = set(raw) - {"defaults", "accounts"}
    tables = raw.get("accounts")
    if unknown or not isinstance(tables, dict) or not tables:
        raise ConfigError(
            f"the accounts file {path} needs [accounts.NAME] tables"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""),
            hint=_HINT,
        )
    defaults = raw.get("defaults", {})
    found: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        if not NAME.fullmatch(name) or not isinstance(table, dict):
            raise ConfigError(
                f"account {name!r}: a name is lowercase letters, digits and '-' (at most 31)",
                hint=_HINT,
            )
        merged = {**defaults, **table}
        _check_keys(path, name, merged)
        found[name] = merged
    return found


def _check_keys(path: Path, name: str, table: dict[str, Any]) -> None:
    known = set(Settings.model_fields)
    for key in table:
        if key in _INLINE_SECRETS:
            raise ConfigError(
                f"{path}: account {name}: {key} must come from a file ({key}_file), never inline",
                hint=_HINT,
            )
        if key not in known:
            raise ConfigError(f"{path}: account {name}: unknown setting {key!r}", hint=_HINT)
    if "email" not in table and "email_file" not in table:
        raise ConfigError(f"{path}: account {name}: say who signs in (email or email_file)")


def settings_for(name: str, path: Path, **flags: Any) -> Settings:
    """One account's Settings: the environment's STITCH_* settings (but never its
    credentials), then the account's table, then the command's flags."""
    accounts = load_accounts(path)
    if name not in accounts:
        raise UsageProblem(
            f"no account {name!r} in {path}",
            hint=f"The accounts are: {', '.join(sorted(accounts))}.",
        )
    base = load_settings().state_dir
    _check_isolated(path, accounts, base)
    return _settings(name, accounts[name], base, flags)


def every(path: Path, **flags: Any) -> dict[str, Settings]:
    """Every account's Settings (`sync --all`, `serve`): the file and the environment read
    once for all of them."""
    accounts = load_accounts(path)
    base = load_settings().state_dir
    _check_isolated(path, accounts, base)
    return {name: _settings(name, table, base, flags) for name, table in accounts.items()}


def _settings(name: str, table: dict[str, Any], base: Path, flags: dict[str, Any]) -> Settings:
    unset = set(_CREDENTIALS) - set(table)  # never the environment's login
    # A secret the account gives as a file is that file's, not the environment's value.
    unset |= {key.removesuffix("_file") for key in table if key.endswith("_file")}
    state = Path(table.get("state_dir") or base / "accounts" / name)
    return load_settings(unset=unset, **{**table, "state_dir": state, **flags})


def _check_isolated(path: Path, accounts: dict[str, dict[str, Any]], base: Path) -> None:
    """Two accounts writing one state dir would share a lock, a trail and a session."""
    dirs: dict[Path, str] = {}
    for other, table in accounts.items():
        where = Path(table.get("state_dir") or base / "accounts" / other).resolve()
        if where in dirs:
            raise ConfigError(
                f"{path}: accounts {dirs[where]} and {other} share the state dir {where}",
                hint="Give each account its own state_dir (or leave it unset).",
            )
        dirs[where] = other


def names(path: Path) -> list[str]:
    return list(load_accounts(path))


def choose(given: str | None, path: Path | None) -> str | None:
    """Which account a command is for: --account (or STITCH_ACCOUNT); the only one when the
    file names one; None without an accounts file."""
    given = given or os.environ.get("STITCH_ACCOUNT") or None
    if path is None:
        if given:
            raise UsageProblem(
                f"--account {given}: no accounts file",
                hint="Set STITCH_ACCOUNTS_FILE to the TOML file that names the accounts.",
            )
        return None
    every = names(path)
    if given is None:
        if len(every) == 1:
            return every[0]
        raise UsageProblem(
            f"{path} names {len(every)} accounts: say which with --account NAME",
            hint=f"The accounts are: {', '.join(every)}; `sync --all` syncs every one.",
        )
    return given
