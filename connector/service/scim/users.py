"""SCIM Users (RFC 7644 §3): list, filter and read the directory (directory.py), provision
and deprovision.

Deprovisioning: PATCH `active` false (Okta's path-less value object, Entra's "Replace" and
"False" included), PUT with active false, DELETE. Each becomes an offboarding job on the
account's queue, so it runs through the same guarded path as every other write; the IdP cannot
override the budget. Provisioning (grants.py): POST invites, `active` true reactivates, `roles`
sets the role, each one guarded run of the same core. Not supported, with a proper SCIM Error:
changing any other attribute, Groups, Bulk, sorting.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi import Path as PathParam
from scim2_models import (
    Context,
    EnterpriseUser,
    ListResponse,
    PatchOp,
    ResponseParameters,
    SCIMException,
    SearchRequest,
    User,
)

from connector.models import OutcomeStatus, Role
from connector.offboard_queue.models import JobStatus, OffboardingRequest
from connector.policy import Rule, explain
from connector.service.auth import READ, WRITE, principal_of
from connector.service.scim.directory import Entry, directory, find, find_email, find_or
from connector.service.scim.discovery import MAX_RESULTS
from connector.service.scim.errors import MEDIA_TYPE, RETRY_AFTER_S, ScimError, scim_json
from connector.service.scim.grants import (
    Held,
    grant_of,
    raise_unless_done,
    role_asked,
    run_grant,
)
from connector.service.scim.requests import base_url, check_user_name, read_body, validate
from connector.service.scim.stitch_extension import StitchMember
from connector.service.state import Service, ServiceDep

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _body_doc(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The request body as OpenAPI shows it (the handlers validate with scim2-models)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": schema}, "application/json": {"schema": schema}},
        }
    }


_SCHEMAS = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_USER_BODY = _body_doc(
    ["schemas", "userName"],
    {"schemas": _SCHEMAS, "userName": {"type": "string"}, "active": {"type": "boolean"}},
)
_PATCH_BODY = _body_doc(
    ["schemas", "Operations"],
    {
        "schemas": _SCHEMAS,
        "Operations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["op"],
                "properties": {"op": {"type": "string"}, "path": {"type": "string"}, "value": {}},
            },
        },
    },
)

IfMatch = Annotated[str | None, Header(alias="If-Match")]
UserId = Annotated[str, PathParam(min_length=1, max_length=100)]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


router = APIRouter(tags=["scim"])


@router.get("/Users", dependencies=[READ])
async def list_users(
    request: Request,
    service: ServiceDep,
    filter: Annotated[str | None, Query(max_length=2000)] = None,
    startIndex: Annotated[str | None, Query(max_length=20)] = None,
    count: Annotated[str | None, Query(max_length=20)] = None,
    attributes: Annotated[str | None, Query(max_length=2000)] = None,
    excludedAttributes: Annotated[str | None, Query(max_length=2000)] = None,
) -> Any:
    """Users, filtered (`userName eq "…"`, `emails[type eq "work"].value eq "…"`, `and`,
    and the rest of RFC 7644 §3.4.2.2) and paged (startIndex is 1-based)."""
    params = {
        "filter": filter,
        "startIndex": startIndex,
        "count": count,
        "attributes": attributes,
        "excludedAttributes": excludedAttributes,
    }
    search = validate(
        SearchRequest[User[Any]],
        {k: v for k, v in params.items() if v is not None},
        Context.SEARCH_REQUEST,
    )
    return await _search(request, service, search)


@router.post("/Users/.search", dependencies=[READ])
async def search_users(request: Request, service: ServiceDep) -> Any:
    """The same search as GET /Users, its parameters in a SearchRequest body (RFC 7644
    §3.4.3): filters stay out of URLs and their logs."""
    search = validate(SearchRequest[User[Any]], await read_body(request), Context.SEARCH_REQUEST)
    return await _search(request, service, search)


async def _search(request: Request, service: Service, search: SearchRequest[User[Any]]) -> Any:
    url = base_url(request)
    users = [e.user(url) for e in await directory(service)]
    if search.filter is not None:
        users = [u for u in users if search.filter.match(u)]
    start = max(search.start_index or 1, 1)
    size = min(search.count if search.count is not None else MAX_RESULTS, MAX_RESULTS)
    page = users[start - 1 : start - 1 + max(size, 0)]
    listing = ListResponse[User[Any]](
        total_results=len(users), start_index=start, items_per_page=len(page), resources=page
    )
    return scim_json(
        listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search)
    )


@router.get("/Users/{id_}", dependencies=[READ])
async def get_user(
    request: Request,
    service: ServiceDep,
    id_: UserId,
    if_none_match: IfNoneMatch = None,
    attributes: Annotated[str | None, Query(max_length=2000)] = None,
    excludedAttributes: Annotated[str | None, Query(max_length=2000)] = None,
) -> Any:
    params = {"attributes": attributes, "excludedAttributes": excludedAttributes}
    shown = validate(
        ResponseParameters[User[Any]],
        {k: v for k, v in params.items() if v is not None},
        Context.RESOURCE_QUERY_REQUEST,
    )
    entry = await find(service, id_)
    if if_none_match and entry.version in _tags(if_none_match):
        return Response(status_code=304, headers={"ETag": entry.version})
    return _user_response(entry, base_url(request), shown)


@router.post("/Users", status_code=201, dependencies=[WRITE], openapi_extra=_USER_BODY)
async def create_user(request: Request, service: ServiceDep) -> Any:
    """An invitation in Stitch (grants.py), with the role asked. An existing userName answers
    409, so an IdP links to it instead; one Stitch lists as deactivated is reactivated."""
    user = validate(
        User[EnterpriseUser], await read_body(request), Context.RESOURCE_CREATION_REQUEST
    )
    if not (user.user_name or "").strip():
        raise ScimError(400, "userName is required", "invalidValue")
    check_user_name(user.user_name)
    if user.active is False:
        raise ScimError(
            400, "a user is created active (an invitation): omit active false", "invalidValue"
        )
    email = (user.user_name or "").strip().lower()
    if any(e.member.email == email and e.active for e in await directory(service)):
        raise ScimError(409, f"a user {user.user_name!r} already exists", "uniqueness")
    try:
        return await _create(request, service, user, email)
    except Held as held:  # nobody to show yet: the approval is the answer
        return scim_json(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "202",
                "detail": f"waits for approval {held.approval_id}: {email} is invited once a "
                "second person approves (GET /v1/approvals/{id}); a retry joins this request",
            },
            202,
            headers=_approval_header(base_url(request), held.approval_id),
        )


async def _create(request: Request, service: Service, user: User[Any], email: str) -> Any:
    role = role_asked(user)
    outcome = await run_grant(request, service, email, grant_of(service, "invite", role))
    if outcome.status in (OutcomeStatus.ALREADY_MEMBER, OutcomeStatus.ALREADY_INVITED):
        raise ScimError(409, f"a user {user.user_name!r} already exists", "uniqueness")
    if outcome.rule == Rule.DEACTIVATED_MEMBER:  # listed, deactivated: bring them back
        outcome = await run_grant(request, service, email, grant_of(service, "reactivate"))
        raise_unless_done(outcome)
        if role is not None:
            changed = await run_grant(request, service, email, grant_of(service, "set_role", role))
            raise_unless_done(changed)
    raise_unless_done(outcome)
    entry = await find_email(service, email)
    _remember(service, entry, user.external_id, _said_roles(user, removed_is_empty=True))
    entry = await find_email(service, email)
    return _user_response(entry, base_url(request), None, status=201)


@router.put("/Users/{id_}", dependencies=[WRITE], openapi_extra=_USER_BODY)
async def replace_user(
    request: Request, service: ServiceDep, id_: UserId, if_match: IfMatch = None
) -> Any:
    """`active` and `roles` are acted on (_apply); the other attributes are Stitch's and are
    left as they are (the response shows them as they are)."""
    user = validate(
        User[EnterpriseUser], await read_body(request), Context.RESOURCE_REPLACEMENT_REQUEST
    )
    check_user_name(user.user_name)
    entry = _precondition(await find(service, id_), if_match)
    if user.user_name is not None and user.user_name.lower() != entry.member.email:
        raise ScimError(400, "userName cannot be changed", "mutability")
    said = (user.external_id, _said_roles(user))
    return await _apply(request, service, entry, user.active, role_asked(user), said)


@router.patch("/Users/{id_}", dependencies=[WRITE], openapi_extra=_PATCH_BODY)
async def patch_user(
    request: Request, service: ServiceDep, id_: UserId, if_match: IfMatch = None
) -> Any:
    """`active` (the RFC 7644 §3.5.2, Okta and Entra forms) and `roles` are acted on (_apply)."""
    body = await read_body(request)
    if not isinstance(body, dict) or PATCH_OP_SCHEMA not in (body.get("schemas") or []):
        raise ScimError(  # RFC 7644 §3.5.2: a PatchOp names its schema; never guessed
            400, f"a PATCH body must have schemas [{PATCH_OP_SCHEMA!r}]", "invalidSyntax"
        )
    patch = validate(PatchOp[User[StitchMember]], body, Context.RESOURCE_PATCH_REQUEST)
    entry = _precondition(await find(service, id_), if_match)
    before = entry.user(base_url(request))
    after = before.model_copy(deep=True)
    try:
        patch.patch(after)
    except SCIMException as exc:
        raise ScimError(exc.status, exc.detail, exc.scim_type or None) from None
    if _without_active(after) != _without_active(before):
        raise ScimError(
            400,
            "only `active`, `roles` and `externalId` can be changed through this service",
            "mutability",
        )
    named = _named(body)
    active = after.active if "active" in named else None
    role = role_asked(after) if "roles" in named else None
    external_id = after.external_id if "externalid" in named else entry.external_id
    roles = _said_roles(after, removed_is_empty=True) if "roles" in named else entry.idp_roles
    return await _apply(request, service, entry, active, role, (external_id, roles))


@router.delete("/Users/{id_}", status_code=204, response_class=Response, dependencies=[WRITE])
async def delete_user(
    request: Request, service: ServiceDep, id_: UserId, if_match: IfMatch = None
) -> Response:
    """Deactivates the member in Stitch; the user then answers 404."""
    entry = _precondition(await find(service, id_), if_match)
    answer = await _deactivate(request, service, entry, deleting=True)
    if answer.status_code == 202:  # held for approval: the user stays until it is approved
        kept = {k: v for k, v in answer.headers.items() if k.lower() in ("etag", "stitch-approval")}
        return Response(status_code=202, headers=kept)
    return Response(status_code=204)


async def _apply(
    request: Request,
    service: Service,
    entry: Entry,
    active: bool | None,
    role: Role | None,
    said: tuple[str | None, str | None],
) -> Any:
    """What a PUT or PATCH asks of Stitch, in order: a deactivation (a role asked with it waits),
    or a reactivation, then the role. Each is a run on a fresh read, whatever the stored roster
    says (a replay costs a read, never a click). Then what the IdP said that Stitch does not
    hold (`said`: externalId, roles) is kept for its next read."""
    if active is False:
        answer = await _deactivate(request, service, entry, deleting=False)
        _remember(service, entry, *said)
        return answer
    email = entry.member.email
    try:
        if active:
            reactivate = grant_of(service, "reactivate")
            raise_unless_done(await run_grant(request, service, email, reactivate))
            entry = await find_or(service, entry, active=True)
        if role is not None:
            change = grant_of(service, "set_role", role)
            raise_unless_done(await run_grant(request, service, email, change))
    except Held as held:
        _remember(service, entry, *said)
        return _held(entry, base_url(request), held.approval_id)
    _remember(service, entry, *said)
    return _user_response(await find_or(service, entry), base_url(request), None)


def _said_roles(user: User[Any], *, removed_is_empty: bool = False) -> str | None:
    """The roles as the IdP sent them, as JSON; None when it sent none (an empty list when a
    PATCH removed them)."""
    if not user.roles:
        return "[]" if removed_is_empty else None
    return json.dumps([r.model_dump(scim_ctx=None, exclude_none=True) for r in user.roles])


def _remember(service: Service, entry: Entry, external_id: str | None, roles: str | None) -> None:
    service.app.jobs.keep_scim_attributes(entry.client_id, entry.member.email, external_id, roles)


def _named(body: dict[str, Any]) -> set[str]:
    """The attributes a PatchOp's operations name (by path, or as keys of a path-less value)."""
    named: set[str] = set()
    for op in body.get("Operations") or []:
        if not isinstance(op, dict):
            continue
        path, value = str(op.get("path") or ""), op.get("value")
        if path:
            named.add(path.split("[", 1)[0].split(".", 1)[0].lower())
        elif isinstance(value, dict):
            named.update(str(k).lower() for k in value)
    return named


async def _deactivate(request: Request, service: Service, entry: Entry, *, deleting: bool) -> Any:
    url = base_url(request)
    # Deactivate, even when the snapshot says it is done already: only a fresh read proves
    # it (someone may have re-invited them since), and a replay costs a read, not a click.
    finished = await service.queue.submit_and_wait(
        OffboardingRequest(
            email=entry.member.email,
            request_id=f"scim-{uuid.uuid4().hex}",
            requested_by="scim",
            reason=f"SCIM {request.method} {request.url.path}",
        ),
        source="scim",
        principal=principal_of(request).name,
        timeout_s=service.settings.service_wait_s,
        join_unfinished=True,
    )
    job = finished
    if finished.status is JobStatus.PENDING_APPROVAL:
        return _held(entry, url, job.approval_id)
    if not finished.status.finished:
        raise ScimError(
            503,
            f"still deactivating {entry.member.email} (job {job.id}); try again shortly",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    outcome = finished.outcome
    assert outcome is not None
    if finished.status is JobStatus.SUCCEEDED:
        service.app.jobs.remember_removed(entry.member, entry.client_id, deleted=deleting)
        return _user_response(await find_or(service, entry, active=False), url, None)
    if finished.status is JobStatus.REFUSED:
        why = explain(outcome.rule) or outcome.reason or "refused"
        raise ScimError(403, f"refused by policy ({outcome.rule}): {why}. Nothing was changed.")
    if finished.status is JobStatus.NOT_FOUND:  # never a member: not a success (RFC 7644 §3.12)
        raise ScimError(404, f"no member {entry.member.email} in Stitch (job {job.id})")
    if finished.status is JobStatus.UNKNOWN:
        raise ScimError(
            500,
            f"the outcome is unknown: the click happened but nothing proved its effect; "
            f"check {entry.member.email} in Stitch by hand (job {job.id})",
        )
    raise ScimError(500, f"deactivation failed (job {job.id}): {outcome.reason}")


def _user_response(
    entry: Entry, url: str, shown: ResponseParameters[User[Any]] | None, *, status: int = 200
) -> Any:
    body = entry.user(url).model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=shown
    )
    headers = {"ETag": entry.version, "Location": f"{url}/Users/{entry.id}"}
    return scim_json(body, status, headers=headers)


def _held(entry: Entry, url: str, approval_id: str | None) -> Any:
    """202 Accepted: the write waits for a second person; the user as Stitch shows it now."""
    body = entry.user(url).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    headers = {"ETag": entry.version, **_approval_header(url, approval_id)}
    return scim_json(body, 202, headers=headers)


def _approval_header(scim_base: str, approval_id: str | None) -> dict[str, str]:
    """Where the request that holds the write is: the service's own /v1/approvals/{id}."""
    if not approval_id:
        return {}
    return {"Stitch-Approval": f"{scim_base.removesuffix('/scim/v2')}/v1/approvals/{approval_id}"}


def _without_active(user: User[Any]) -> dict[str, Any]:
    """What a PATCH may not change: everything but `active`, `roles` and `externalId`."""
    dumped = user.model_dump(scim_ctx=None, exclude_none=True)
    for kept in ("active", "roles", "external_id", "externalId"):  # acted on, or kept
        dumped.pop(kept, None)
    return dumped


def _tags(header: str) -> set[str]:
    return {t.strip() for t in header.split(",") if t.strip()}


def _precondition(entry: Entry, if_match: str | None) -> Entry:
    if if_match and "*" not in _tags(if_match) and entry.version not in _tags(if_match):
        raise ScimError(412, "the user changed since that ETag (If-Match)")
    return entry
