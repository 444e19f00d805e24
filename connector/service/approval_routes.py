"""/v1/approvals: the requests an approval rule holds, and their decisions.

Reading takes any token that may read the jobs API; deciding takes a token of scope `approve`
(auth.py), and never the one that asked (four eyes: the desk refuses it, 403). An approved
request is carried out by the service's worker right after, on a fresh read; the jobs it held
then finish, and their callbacks go out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from connector.approvals.models import Approval, ApprovalStatus, Decision
from connector.service.auth import APPROVE, READ, Principal
from connector.service.state import ServiceDep

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])


def approval_body(approval: Approval, prefix: str = "") -> dict[str, Any]:
    """The public form: the request, and where to decide it (`prefix`: the account's mount)."""
    here = f"{prefix}/v1/approvals/{approval.id}"
    return {
        **approval.model_dump(mode="json"),
        "links": {"self": here, "approve": f"{here}/approve", "reject": f"{here}/reject"},
    }


@router.get("", dependencies=[READ])
async def list_approvals(
    service: ServiceDep, status: ApprovalStatus | None = None
) -> dict[str, Any]:
    """The requests, newest first; `?status=pending` for those waiting for a decision."""
    found = service.app.approvals.requests(status)
    return {"approvals": [approval_body(a, service.prefix) for a in found]}


@router.get("/{approval_id}", dependencies=[READ], responses={404: {"description": "No such"}})
async def get_approval(approval_id: str, service: ServiceDep) -> dict[str, Any]:
    """One request: the exact writes, the roster fingerprint, who asked, why, the decision and,
    once carried out, each write's outcome."""
    return approval_body(service.app.approvals.get(approval_id), service.prefix)


@router.post(
    "/{approval_id}/approve",
    responses={
        403: {"description": "The requester's own request (four eyes), or no approve scope"},
        409: {"description": "Already rejected, expired, refused or asked again"},
    },
)
async def approve(
    approval_id: str,
    principal: Annotated[Principal, APPROVE],
    service: ServiceDep,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """Approve: the service carries it out next. Approving again changes nothing."""
    approval = service.app.approvals.approve(
        approval_id, f"api:{principal.name}", decision.note if decision else None
    )
    service.queue.wake()
    return approval_body(approval, service.prefix)


@router.post(
    "/{approval_id}/reject",
    responses={409: {"description": "Already approved, carried out or closed"}},
)
async def reject(
    approval_id: str,
    principal: Annotated[Principal, APPROVE],
    service: ServiceDep,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """Reject: it never runs; the jobs it held finish `refused` (rule approval_rejected)."""
    approval = service.app.approvals.reject(
        approval_id, f"api:{principal.name}", decision.note if decision else None
    )
    service.queue.wake()  # their callbacks are due
    return approval_body(approval, service.prefix)
