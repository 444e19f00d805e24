"""The approval desk over the real stores (no browser): what no single step may leave behind.
A request rejected while the job it holds is still in its run, and a request left `running` by
a process that died, are both settled by the sweep the service runs between batches."""

from __future__ import annotations

from pathlib import Path

from connector.app import App
from connector.approval_rules import ApprovalRule, ApprovalRules
from connector.approvals.models import ApprovalStatus
from connector.models import Outcome, OutcomeStatus, PlanTarget, TargetRequest
from connector.offboard_queue.models import CallbackStatus, JobStatus, OffboardingRequest
from connector.planner import History, PlanRequest, plan
from connector.policy import PolicyConfig
from connector.settings import Settings
from tests.unit.test_planner import TEAM

RULES = ApprovalRules(rules=(ApprovalRule(name="admins", when="removes_administrator"),))


def held_target(request_id: str) -> PlanTarget:
    asked = {"boss@corp.com": TargetRequest(request_id=request_id, actor="api:airflow")}
    request = PlanRequest(emails=["boss@corp.com"], base_url="x", requests=asked)
    (target,) = plan(TEAM, request, PolicyConfig(approvals=RULES), History()).targets
    assert target.approval == "admins"
    return target


def test_a_rejection_while_the_job_is_still_in_its_run_settles_the_job(tmp_path: Path) -> None:
    app = App(Settings(state_dir=tmp_path, approve_admin_removals=True, base_url="http://x"))
    job, _ = app.jobs.submit(
        OffboardingRequest(
            email="boss@corp.com",
            request_id="hr-1",
            requested_by="hr",
            callback_url="https://hooks.example.com/x",
        ),
        source="api",
        principal="airflow",
    )
    (job,) = app.jobs.claim(1, "run-1")
    named = app.approvals.holder("orchestrator")([held_target("hr-1")], TEAM)
    approval_id = named["boss@corp.com"]
    app.approvals.reject(approval_id, "human:bob", "not a leaver")  # the run has not ended yet
    waiting = Outcome(
        email="boss@corp.com", status=OutcomeStatus.PENDING_APPROVAL, approval_id=approval_id
    )
    app.jobs.finish(job.id, waiting, run_id="run-1")
    assert app.jobs.get(job.id).status is JobStatus.PENDING_APPROVAL  # type: ignore[union-attr]
    app.approvals.sweep(lock_free=True, stuck_after_s=0)
    done = app.jobs.get(job.id)
    assert done is not None and done.status is JobStatus.REFUSED
    assert done.outcome is not None and done.outcome.rule == "approval_rejected"
    assert done.callback_status is CallbackStatus.PENDING  # the caller hears of it


def test_a_request_left_running_by_a_dead_process_is_approved_again_once_the_lock_is_free(
    tmp_path: Path,
) -> None:
    app = App(Settings(state_dir=tmp_path, approve_admin_removals=True, base_url="http://x"))
    hold = app.approvals.holder("human:alice")
    approval_id = hold([held_target("cli-1")], TEAM)["boss@corp.com"]
    app.approvals.approve(approval_id, "human:bob", None)
    assert app.approvals.begin(approval_id, "run-that-died") is not None
    app.approvals.sweep(lock_free=False, stuck_after_s=0)  # someone holds the lock: its run
    assert app.approvals.get(approval_id).status is ApprovalStatus.RUNNING
    app.approvals.sweep(lock_free=True, stuck_after_s=3600)  # not long enough untouched
    assert app.approvals.get(approval_id).status is ApprovalStatus.RUNNING
    app.approvals.sweep(lock_free=True, stuck_after_s=0)
    again = app.approvals.get(approval_id)
    assert again.status is ApprovalStatus.APPROVED and "interrupted" in (again.error or "")
    assert app.approvals.begin(approval_id, "run-2") is not None  # carried out once more
