"""Settings: environment, *_FILE secrets, and one clear ConfigError for each bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.settings import DEFAULT_BASE_URL, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("STITCH_"):
            monkeypatch.delenv(key)


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_settings().base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("STITCH_EMAIL", " Admin@Example.COM ")
    monkeypatch.setenv("STITCH_PASSWORD", "pw-123456")
    monkeypatch.setenv("STITCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STITCH_HEADLESS", "false")
    s = load_settings()
    assert (s.email, s.state_dir, s.headless) == ("admin@example.com", tmp_path, False)
    assert s.password is not None and s.password.get_secret_value() == "pw-123456"
    assert "pw-123456" not in repr(s)


def test_secrets_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file-secret\n")
    (tmp_path / "totp").write_text("KRUG S4ZA NFZS A43F MNZG K5BA ORXX I4BA")
    monkeypatch.setenv("STITCH_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("STITCH_TOTP_SECRET_FILE", str(tmp_path / "totp"))
    s = load_settings()
    assert s.password is not None and s.password.get_secret_value() == "from-file-secret"
    assert s.secrets() == ["from-file-secret", "KRUGS4ZANFZSA43FMNZGK5BAORXXI4BA"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STITCH_BASE_URL": "app.stitchdata.com"}, "STITCH_BASE_URL: 'app.stitchdata.com' is not"),
        ({"STITCH_BASE_URL": "ftp://x"}, "not an http(s) URL"),
        ({"STITCH_BASE_URL": "https://x/?a=1"}, "must be an origin"),
        ({"STITCH_PASSWORD_FILE": "/nonexistent/pw"}, "cannot read STITCH_PASSWORD_FILE"),
        ({"STITCH_EMAIL": "nobody"}, "STITCH_EMAIL: 'nobody' is not an email"),
        ({"STITCH_TIMEOUT_MS": "5"}, "STITCH_TIMEOUT_MS"),
        ({"STITCH_HEADLESS": "maybe"}, "STITCH_HEADLESS"),
        ({"STITCH_TOTP_SECRET": "not base32!"}, "STITCH_TOTP_SECRET: is not a usable base32"),
    ],
)
def test_bad_settings_raise_one_config_error(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_credentials_say_what_to_set() -> None:
    with pytest.raises(ConfigError, match="no email") as info:
        load_settings().require_credentials()
    assert "STITCH_EMAIL" in info.value.hint
    with pytest.raises(ConfigError, match="no password") as info:
        load_settings(email="a@example.com").require_credentials()
    assert "STITCH_PASSWORD_FILE" in info.value.hint


def test_pwdebug_shows_the_browser_and_lets_a_person_take_their_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PWDEBUG", "1")
    debug = load_settings()
    assert (debug.headless, debug.timeout_ms, debug.write_timeout_ms) == (False, 600_000, 600_000)
    monkeypatch.setenv("STITCH_TIMEOUT_MS", "5000")  # an explicit setting still wins
    assert load_settings().timeout_ms == 5_000
    monkeypatch.delenv("PWDEBUG")
    monkeypatch.delenv("STITCH_TIMEOUT_MS")
    assert (load_settings().headless, load_settings().timeout_ms) == (True, 30_000)
