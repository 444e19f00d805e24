"""The whole member lifecycle through the real browser and the sandbox, on every variant: invite,
accept, promote, demote, deactivate, reactivate; each step proven by the connector, in the
audit trail, and each replay changing nothing. Then the same writes under faults."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connector import runner
from connector.audit import AuditLog
from connector.client import StitchConnector
from connector.errors import ConnectorError
from connector.models import Grant, Outcome, OutcomeStatus, Role
from connector.settings import Settings
from tests.conftest import MakeSandbox
from tests.e2e.test_deactivate import VARIANTS, statuses, team_box, writes, wsettings

pytestmark = pytest.mark.e2e

JOE = "joe@corp.com"
T = TypeVar("T")


def change(
    settings: Settings, grants: list[tuple[str, Grant]], removals: list[str] | None = None
) -> list[Outcome]:
    async def go() -> list[Outcome]:
        async with StitchConnector(settings) as stitch:
            return await stitch.change(removals or [], grants, actor="test")

    return runner.run(go)


def one(settings: Settings, email: str, grant: Grant | None) -> OutcomeStatus:
    """One write (a grant, or a removal when `grant` is None); its outcome."""
    grants = [(email, grant)] if grant else []
    (outcome,) = change(settings, grants, None if grant else [email])
    return outcome.status


async def ask(stitch: StitchConnector, email: str, grant: Grant | None) -> OutcomeStatus:
    """One write in a running session (a grant, or a removal when `grant` is None)."""
    grants = [(email, grant)] if grant else []
    (outcome,) = await stitch.change([] if grant else [email], grants, actor="test")
    return outcome.status


def session(settings: Settings, scenario: Callable[[StitchConnector], Awaitable[T]]) -> T:
    """A scenario of several writes in one connector run: each still plans on a fresh read,
    takes the lock, clicks once and proves it by a fresh read."""

    async def go() -> T:
        async with StitchConnector(settings) as stitch:
            return await scenario(stitch)

    return runner.run(go)


def roles(box: Any) -> dict[str, tuple[str, str]]:
    return {m["email"]: (m["status"], m["role"]) for m in box.state()["members"]}


def invite_settings(box: Any, tmp_path: Path, **over: Any) -> Settings:
    return wsettings(box, tmp_path / "state", invite_domains=["corp.com"], **over)


ADMIN = Grant(kind="set_role", role=Role.ADMINISTRATOR, allow_administrator=True)
DEMOTE = Grant(kind="set_role", role=Role.GENERAL_USER)
INVITE = Grant(kind="invite")
BACK = Grant(kind="reactivate")


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_joiner_goes_through_the_whole_lifecycle_and_every_replay_is_a_no_op(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    box = team_box(make_sandbox, tmp_path, variant=variant, keep_deactivated=True)
    settings = invite_settings(box, tmp_path)
    steps: list[tuple[str, Grant | None, OutcomeStatus, OutcomeStatus, tuple[str, str]]] = [
        ("invite", INVITE, OutcomeStatus.INVITED, OutcomeStatus.ALREADY_INVITED,
         ("pending", "General User")),
        ("accept", None, OutcomeStatus.PLANNED, OutcomeStatus.PLANNED, ("active", "General User")),
        ("deactivate", None, OutcomeStatus.DEACTIVATED, OutcomeStatus.ALREADY_ABSENT,
         ("deactivated", "General User")),
        ("reactivate", BACK, OutcomeStatus.REACTIVATED, OutcomeStatus.ALREADY_MEMBER,
         ("active", "General User")),
    ]  # fmt: skip
    if variant != "legacy":  # legacy has no role control: roles were automatic before 2022-11
        steps[2:2] = [
            ("promote", ADMIN, OutcomeStatus.CHANGED, OutcomeStatus.UNCHANGED,
             ("active", "Administrator")),
            ("demote", DEMOTE, OutcomeStatus.CHANGED, OutcomeStatus.UNCHANGED,
             ("active", "General User")),
        ]  # fmt: skip

    async def scenario(stitch: StitchConnector) -> None:
        for name, grant, done, again, shown in steps:
            if name == "accept":
                box.accept_invite(JOE, "Joe Joiner")  # the person accepts the invitation
                assert roles(box)[JOE] == shown
                continue
            assert await ask(stitch, JOE, grant) is done, name
            assert roles(box)[JOE] == shown, name
            count = len(writes(box))
            assert await ask(stitch, JOE, grant) is again, name
            assert len(writes(box)) == count, name  # the replay clicked nothing

    session(settings, scenario)
    # One proven write per step, in the audit trail's hash chain, each with its own outcome.
    trail = [(r.action, r.outcome) for r in AuditLog(settings.audit_path).records()
             if r.target == JOE and r.outcome != "clicked" and r.action]  # fmt: skip
    expected = [("invite", "invited")]
    if variant != "legacy":
        expected += [("set_role", "changed"), ("set_role", "changed")]
    expected += [("deactivate", "deactivated"), ("reactivate", "reactivated")]
    assert trail == expected
    AuditLog(settings.audit_path).require_sound()
    assert [w["email"] for w in writes(box)] == [JOE] * len(expected)


def test_a_legacy_role_change_fails_clearly_and_clicks_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path, variant="legacy")
    settings = invite_settings(box, tmp_path)
    (outcome,) = change(settings, [("a@corp.com", ADMIN)])
    assert outcome.status is OutcomeStatus.FAILED
    assert "no role control" in (outcome.reason or "")
    assert writes(box) == []


@pytest.mark.parametrize(
    ("email", "status", "reason"),
    [
        ("analyst@other-account.example", OutcomeStatus.FAILED, "already associated"),
        ("a@corp.com", OutcomeStatus.ALREADY_MEMBER, None),
        ("new@corp.com", OutcomeStatus.ALREADY_INVITED, None),
    ],
)
def test_an_invitation_stitch_refuses_says_why(
    make_sandbox: MakeSandbox, tmp_path: Path, email: str, status: OutcomeStatus, reason: str | None
) -> None:
    box = team_box(make_sandbox, tmp_path)
    settings = wsettings(
        box, tmp_path / "state", invite_domains=["corp.com", "other-account.example"]
    )
    (outcome,) = change(settings, [(email, INVITE)])
    assert outcome.status is status
    if reason:
        assert reason in (outcome.reason or "")


def test_the_seat_limit_is_a_failure_that_names_it(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path, seat_limit=15)  # the team fills it
    (outcome,) = change(invite_settings(box, tmp_path), [(JOE, INVITE)])
    assert outcome.status is OutcomeStatus.FAILED
    assert "users" in (outcome.reason or "") and JOE not in statuses(box)


@pytest.mark.usefixtures("no_retry_waits")
def test_twenty_mixed_writes_under_faults_never_succeed_falsely_nor_click_twice(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """--fault-rate 0.3 and a dropped success banner: every outcome the connector calls a
    success is true in the sandbox, and no write request is sent twice for one change."""
    box = team_box(
        make_sandbox, tmp_path, fault_rate=0.3, drop_banner=True, keep_deactivated=True, seed=7
    )
    settings = invite_settings(box, tmp_path, max_grants=50, max_grants_per_day=100,
                               max_removals=50, max_removals_per_day=100, max_fraction=1.0,
                               early_read_ms=100, retries=2)  # fmt: skip
    rng = random.Random(15)
    asks: list[tuple[str, Grant | None]] = []
    for i in range(20):
        kind = rng.choice(["invite", "promote", "deactivate", "reactivate"])
        email = (
            f"mix{i}@corp.com"
            if kind == "invite"
            else rng.choice([f"user{n}@corp.com" for n in range(8)])
        )
        grant = {"invite": INVITE, "promote": ADMIN, "deactivate": None, "reactivate": BACK}[kind]
        asks.append((email, grant))
    false_successes: list[tuple[str, str, Any, Any]] = []
    outcomes: list[str] = []

    async def scenario(stitch: StitchConnector) -> None:
        for email, grant in asks:
            before = roles(box).get(email)
            try:
                status = await ask(stitch, email, grant)
            except ConnectorError as exc:  # a whole write that failed: nothing claimed
                outcomes.append(f"{email}: {type(exc).__name__}")
                continue
            after = roles(box).get(email)
            what = grant.kind if grant else "deactivate"
            outcomes.append(f"{email}: {what} {status.value} {before}->{after}")
            if status.ok and not _true(grant, before, after):
                false_successes.append((email, status.value, before, after))

    session(settings, scenario)
    assert false_successes == [], outcomes
    per_change: dict[tuple[str, str], int] = {}
    for w in writes(box):
        if w["outcome"] == "ok":
            key = (w["email"], w["action"])
            per_change[key] = per_change.get(key, 0) + 1
    # A member may be changed again by a later ask; never twice for one ask.
    assert all(n <= asks_for(asks, key) for key, n in per_change.items()), per_change


def _true(grant: Grant | None, before: Any, after: Any) -> bool:
    """Is what an ok outcome claims true of the sandbox's member now?"""
    if grant is None:
        return after is None or after[0] == "deactivated"
    if grant.kind == "invite":
        return after is not None and after[0] in ("pending", "active")
    if grant.kind == "set_role":
        return after is not None and after[1] == "Administrator"
    return after is not None and after[0] == "active"


def asks_for(asks: list[tuple[str, Grant | None]], key: tuple[str, str]) -> int:
    email, action = key
    kinds = {"invite": "invite", "set_role": "set_role", "reactivate": "reactivate"}
    return sum(
        1
        for e, g in asks
        if e == email
        and ((g is None and action == "deactivate") or (g and kinds[g.kind] == action))
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_pending_invitation_is_resent_on_stitchs_word(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    """Resend changes nothing a read can see: it rests on Stitch's own success message, with
    the row still pending; with the message dropped it is unknown, and not sent twice."""
    box = team_box(make_sandbox, tmp_path, variant=variant)
    settings = invite_settings(box, tmp_path)
    assert one(settings, "new@corp.com", Grant(kind="resend_invitation")) is (
        OutcomeStatus.INVITATION_RESENT
    )
    assert [(w["action"], w["email"]) for w in writes(box)] == [
        ("resend_invitation", "new@corp.com")
    ]
    if variant != "current":  # the proof's rule is the connector's, the same on every variant
        return
    (tmp_path / "quiet").mkdir()
    quiet = team_box(make_sandbox, tmp_path / "quiet", variant=variant, drop_banner=True)
    quiet_settings = wsettings(
        quiet, tmp_path / "quiet-state", invite_domains=["corp.com"], write_timeout_ms=1_000
    )
    (outcome,) = change(quiet_settings, [("new@corp.com", Grant(kind="resend_invitation"))])
    assert outcome.status is OutcomeStatus.UNKNOWN
    assert len(writes(quiet)) == 1


def test_with_sso_on_an_administrator_still_invites(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """SSO invalidates pending invitations [Stitch docs] (none are listed), and only
    Administrators may add: the connector, signed in as one, invites and proves it."""
    box = team_box(make_sandbox, tmp_path, sso=True)
    assert "pending" not in {m["status"] for m in box.state()["members"]}  # type: ignore[union-attr]
    settings = invite_settings(box, tmp_path, sso_enabled=True)
    assert one(settings, JOE, INVITE) is OutcomeStatus.INVITED
    assert roles(box)[JOE] == ("pending", "General User")


def test_a_dropped_banner_on_a_grant_is_proven_beside_the_page(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """A write timeout far longer than the test's own: only the read beside the page ends the
    wait (before: every grant with a dropped banner waited the whole write timeout)."""
    box = team_box(make_sandbox, tmp_path, drop_banner=True)
    settings = invite_settings(box, tmp_path, write_timeout_ms=600_000, early_read_ms=300)
    assert one(settings, "a@corp.com", ADMIN) is OutcomeStatus.CHANGED
    assert one(settings, JOE, INVITE) is OutcomeStatus.INVITED
    assert roles(box)["a@corp.com"] == ("active", "Administrator")
    assert [w["action"] for w in writes(box)] == ["set_role", "invite"]
