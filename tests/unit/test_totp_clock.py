"""TOTP windows on a test clock: the next-window rule of both sides, proven without waiting.

The connector never sends a code from a window it already used (`signin.fresh_totp_code`, which
waits for the next window); the sandbox accepts each window's code once (`SandboxState.check_totp`).
Both read the wall clock through an injected clock, so `connector.clock.testing()` lets the
30-second wait pass at once while every rule is checked as it runs against the real clock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pyotp
import pytest

from connector import clock
from connector.sandbox.options import SandboxOptions
from connector.sandbox.state import SandboxState
from connector.stitch.signin import SpentTotpWindow, fresh_totp_code

SECRET = SandboxOptions().totp_secret
WINDOW = 56_000_000  # a 30-second window in 2023: far from now, so real time would fail the checks


def sandbox_on(fake: clock.TestClock) -> SandboxState:
    return SandboxState(SandboxOptions(mfa="totp"), wall_clock=fake.time)


def test_a_second_sign_in_in_the_same_window_waits_for_the_next_one_without_sleeping(
    tmp_path: Path,
) -> None:
    spent = SpentTotpWindow(tmp_path / "totp-last-window")
    started = time.monotonic()
    with clock.testing(start=WINDOW * 30 + 5) as fake:
        stitch = sandbox_on(fake)
        first = asyncio.run(fresh_totp_code(SECRET, spent))
        assert fake.slept == [] and spent.last() == WINDOW
        assert first == pyotp.TOTP(SECRET).at(WINDOW * 30)
        assert stitch.check_totp(first)
        assert not stitch.check_totp(first)  # a window's code works once

        second = asyncio.run(fresh_totp_code(SECRET, spent))
        assert fake.slept == [pytest.approx(25.05)]  # to just past the window's end
        assert fake.time() == pytest.approx(WINDOW * 30 + 30.05)
        assert spent.last() == WINDOW + 1
        assert second == pyotp.TOTP(SECRET).at((WINDOW + 1) * 30) != first
        assert stitch.check_totp(second)
    assert time.monotonic() - started < 5  # the 25 s passed on the test clock only


def test_a_clock_that_stepped_back_does_not_wait_for_minutes(tmp_path: Path) -> None:
    spent = SpentTotpWindow(tmp_path / "totp-last-window")
    spent.record(WINDOW + 10)  # written by a run whose clock was 5 minutes ahead
    with clock.testing(start=WINDOW * 30 + 5) as fake:
        code = asyncio.run(fresh_totp_code(SECRET, spent))
        assert fake.slept == [0.0]
        assert code == pyotp.TOTP(SECRET).at(WINDOW * 30)
        assert spent.last() == WINDOW


def test_the_sandbox_checks_codes_against_its_own_wall_clock() -> None:
    with clock.testing(start=WINDOW * 30 + 5) as fake:
        stitch = sandbox_on(fake)
        assert not stitch.check_totp(pyotp.TOTP(SECRET).now())  # real time: years away
        assert stitch.check_totp(pyotp.TOTP(SECRET).at(fake.time()))
        fake.advance(30)
        assert stitch.check_totp(pyotp.TOTP(SECRET).at(fake.time()))  # the next window's, once
        fake.advance(90)
        assert not stitch.check_totp(pyotp.TOTP(SECRET).at(WINDOW * 30))  # too old by now


def test_the_system_clock_is_back_after_the_test_clock() -> None:
    before = clock.current()
    assert isinstance(before, clock.SystemClock)
    with clock.testing() as fake:
        assert clock.current() is fake
        assert abs(fake.time() - time.time()) < 5  # starts at the real time
    assert clock.current() is before
    assert abs(clock.current().time() - time.time()) < 1
