"""Secrets never land in an artifact: every file a run wrote, and every log line, is scanned."""

from __future__ import annotations

import base64
import io
import urllib.parse
from pathlib import Path

import pytest

from connector.clock import TestClock
from connector.errors import PageNotRecognised
from tests.conftest import MakeSandbox, drifted_selectors, settings_for
from tests.e2e.test_members import scrape

PASSWORD = "Pw-Very-Secret-8317"
TOTP_SECRET = "KRUGS4ZANFZSA43FMNZGK5BAORXXI4BA"


def encodings(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        urllib.parse.quote(secret),
        base64.b64encode(raw).decode(),
        base64.b32encode(raw).decode().rstrip("="),
        raw.hex(),
    }


@pytest.mark.e2e
def test_no_secret_in_logs_or_any_file_the_run_wrote(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO, wall_clock: TestClock
) -> None:
    box = make_sandbox(
        members=60,
        mfa="totp",
        admin_password=PASSWORD,
        totp_secret=TOTP_SECRET,
        latency_ms=10,
        wall_clock=wall_clock.time,
    )
    state = tmp_path / "state"
    settings = settings_for(box, state)
    scrape(settings)  # a full sign-in with password and TOTP, and a scrape
    box.expire_sessions()
    drifted = drifted_selectors(tmp_path, 'status = ["Status"]', 'status = ["State"]')
    with pytest.raises(PageNotRecognised) as info:  # sign in again, then fail with evidence
        scrape(settings, selectors=drifted)
    assert info.value.artifacts, "the failure must leave a screenshot and HTML to scan"
    # The second sign-in came in the first one's TOTP window: it waited for the next (at once).
    assert len(wall_clock.slept) == 1 and 0 < wall_clock.slept[0] <= 30.05, wall_clock.slept

    files = [p for p in state.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".json", ".png", ".html"}
    haystacks = {str(p): p.read_bytes() for p in files}
    haystacks["<logs>"] = log_capture.getvalue().encode()
    assert len(haystacks["<logs>"]) > 1000, "the run must have logged something to scan"
    for secret in (PASSWORD, TOTP_SECRET):
        for form in encodings(secret):
            for where, blob in haystacks.items():
                assert form.encode() not in blob, f"{secret!r} (as {form!r}) found in {where}"
