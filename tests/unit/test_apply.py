"""Applying a plan (apply.py) on an in-memory UI: the guards, the halting rules, the audit
trail and undo.json, without a browser. Every test checks the clicks the fake saw."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from connector import policy
from connector.apply import PlanRunner
from connector.audit import AuditLog
from connector.errors import PlanStale, PolicyRefused
from connector.models import Action, Outcome, OutcomeStatus, Plan, Role, Status
from connector.removal import StepPrompt
from connector.settings import Settings
from tests.unit.fake_ui import Click, FakeUI, member

D = Action.DEACTIVATE


def team(size: int = 30) -> FakeUI:
    return FakeUI(
        [
            member("me@corp.com", Role.ADMINISTRATOR, is_self=True),
            member("boss@corp.com", Role.ADMINISTRATOR),
            member("gone@corp.com", status=Status.DEACTIVATED),
            *[member(f"u{i}@corp.com") for i in range(size)],
        ]
    )


def plan_for(ui: FakeUI, settings: Settings, *emails: str) -> Plan:
    roster = ui.listed()
    return Plan(
        created_at=datetime.now(UTC),
        base_url=settings.base_url,
        account=roster.account,
        roster_fingerprint=roster.fingerprint,
        roster_count=roster.count,
        targets=policy.decide(list(emails), roster, settings.policy()),
        reason="offboarding",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", retries=2)


def run(
    ui: FakeUI,
    settings: Settings,
    plan: Plan,
    *,
    step: StepPrompt | None = None,
    should_stop: Callable[[], bool] | None = None,
    override_budget: bool = False,
) -> list[Outcome]:
    runner = PlanRunner(
        ui,
        settings,
        settings.runs_dir / "run-1",
        run_id="run-1",
        step=step,
    )
    return asyncio.run(
        runner.run(
            plan,
            actor="test",
            override_budget=override_budget,
            roster=None,
            should_stop=should_stop,
        )
    )


def trail(settings: Settings) -> list[tuple[str, str]]:
    return [(r.target, r.outcome) for r in AuditLog(settings.audit_path).records()]


def undo(settings: Settings) -> list[str] | None:
    path = settings.runs_dir / "run-1" / "undo.json"
    if not path.exists():
        return None
    return [m["email"] for m in json.loads(path.read_text(encoding="utf-8"))["members"]]


def test_each_target_is_removed_once_audited_and_written_to_undo(settings: Settings) -> None:
    ui = team()
    plan = plan_for(ui, settings, "u1@corp.com", "u2@corp.com")
    outcomes = run(ui, settings, plan)
    assert [o.status for o in outcomes] == [OutcomeStatus.DEACTIVATED] * 2
    assert ui.clicks == [("u1@corp.com", D), ("u2@corp.com", D)]
    assert trail(settings) == [
        ("u1@corp.com", "clicked"),
        ("u1@corp.com", "deactivated"),
        ("u2@corp.com", "clicked"),
        ("u2@corp.com", "deactivated"),
    ]
    assert undo(settings) == ["u1@corp.com", "u2@corp.com"]


def test_targets_without_an_action_are_reported_not_clicked(settings: Settings) -> None:
    ui = team()
    plan = plan_for(ui, settings, "gone@corp.com", "me@corp.com", "u1@corp.com")
    outcomes = run(ui, settings, plan)
    assert [o.status for o in outcomes] == [
        OutcomeStatus.ALREADY_ABSENT,
        OutcomeStatus.REFUSED,
        OutcomeStatus.DEACTIVATED,
    ]
    assert outcomes[1].rule is not None
    assert ui.clicks == [("u1@corp.com", D)]
    assert undo(settings) == ["u1@corp.com"]  # only proven removals


def test_an_unknown_outcome_stops_the_rest_of_the_batch(settings: Settings) -> None:
    ui = team()
    ui.script["u1@corp.com"] = [Click("lost", takes_effect=False)]
    plan = plan_for(ui, settings, "u1@corp.com", "u2@corp.com")
    outcomes = run(ui, settings, plan)
    assert [o.status for o in outcomes] == [OutcomeStatus.UNKNOWN, OutcomeStatus.SKIPPED]
    assert "an earlier removal ended unknown" in (outcomes[1].reason or "")
    assert ui.clicks == [("u1@corp.com", D)]  # once, and nobody else
    assert undo(settings) is None
    assert AuditLog(settings.audit_path).unresolved_unknowns() == {"u1@corp.com"}


def test_a_failure_does_not_stop_the_batch(settings: Settings) -> None:
    ui = team()
    ui.script["u1@corp.com"] = [Click("error", takes_effect=False, text="No")]
    outcomes = run(ui, settings, plan_for(ui, settings, "u1@corp.com", "u2@corp.com"))
    assert [o.status for o in outcomes] == [OutcomeStatus.FAILED, OutcomeStatus.DEACTIVATED]
    assert ui.clicks == [("u1@corp.com", D), ("u2@corp.com", D)]


def test_quit_at_the_step_prompt_refuses_the_rest(settings: Settings) -> None:
    ui = team()

    async def prompt(what: str) -> Literal["go", "skip", "quit"]:
        return "quit"

    plan = plan_for(ui, settings, "u1@corp.com", "u2@corp.com")
    outcomes = run(ui, settings, plan, step=prompt)
    assert [(o.status, o.rule) for o in outcomes] == [
        (OutcomeStatus.REFUSED, "human_quit"),
        (OutcomeStatus.REFUSED, "human_quit"),
    ]
    assert ui.clicks == []


def test_should_stop_leaves_the_rest_out_unrecorded(settings: Settings) -> None:
    ui = team()
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 1

    plan = plan_for(ui, settings, "u1@corp.com", "u2@corp.com")
    outcomes = run(ui, settings, plan, should_stop=stop)
    assert [o.email for o in outcomes] == ["u1@corp.com"]
    assert ui.clicks == [("u1@corp.com", D)]
    assert {t for t, _ in trail(settings)} == {"u1@corp.com"}


def test_a_changed_roster_makes_the_plan_stale(settings: Settings) -> None:
    ui = team()
    plan = plan_for(ui, settings, "u1@corp.com")
    ui.roster.append(member("new@corp.com"))
    with pytest.raises(PlanStale):
        run(ui, settings, plan)
    assert ui.clicks == [] and trail(settings) == []


def test_a_plan_for_another_stitch_is_stale(settings: Settings) -> None:
    ui = team()
    plan = plan_for(ui, settings, "u1@corp.com").model_copy(
        update={"base_url": "https://elsewhere.example"}
    )
    with pytest.raises(PlanStale):
        run(ui, settings, plan)
    assert ui.clicks == [] and ui.reads == 0


def test_over_budget_is_refused_whole_and_audited(settings: Settings) -> None:
    ui = team()
    emails = [f"u{i}@corp.com" for i in range(settings.max_removals + 1)]
    plan = plan_for(ui, settings, *emails)
    with pytest.raises(PolicyRefused) as info:
        run(ui, settings, plan)
    assert ui.clicks == []
    assert trail(settings) == [(e, "refused") for e in emails]
    assert info.value.rule
    # With the override, the same plan goes through.
    run(ui, settings, plan, override_budget=True)
    assert len(ui.clicks) == len(emails)
