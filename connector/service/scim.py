"""SCIM 2.0 (RFC 7643/7644) at /scim/v2, so an IdP's own deprovisioning reaches Stitch.

Resources, messages and filters are scim2-models'. What it serves:
- Users: the latest snapshot's members (pending invitations are users, active true), plus the
  members this service removed, which stay findable with active false. DELETE removes too,
  and a deleted user then answers 404 (RFC 7644 §3.6).
- Deprovisioning: PATCH `active` false (Okta's path-less value object, Entra's "Replace" and
  "False" included), PUT with active false, DELETE. Each becomes an offboarding job, so it runs
  through the same guarded path as every other write; the IdP cannot override the budget.
- Not supported, with a proper SCIM Error: creating users (501), reactivation (501), changing
  any attribute but `active`, Groups, Bulk, sorting.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    Email,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    ListResponse,
    Meta,
    Name,
    Patch,
    PatchOp,
    ResourceType,
    ResponseParameters,
    Schema,
    SCIMException,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_models import Role as ScimRole
from starlette.requests import ClientDisconnect

from connector.errors import ConnectorError
from connector.models import (
    MAX_EMAIL_LENGTH,
    Member,
    MemberList,
    Status,
    is_requested_email,
    unsafe_char,
)
from connector.offboard.jobs import JobStatus, OffboardingRequest
from connector.policy import explain
from connector.service.auth import READ, WRITE, principal_of

if TYPE_CHECKING:
    from connector.service.api import Service

MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 200
_ID_NAMESPACE = uuid.UUID("5b0f6a39-3c55-4c84-9a3e-2f1d6f1b7a10")  # stitch-connector's own
# What a user resource carries; everything else in the core schema is never set.
_SUPPORTED = ("userName", "name", "displayName", "active", "emails", "roles")
_WRITABLE = ("active",)
# RFC 7643 §4.1.1: userName is required, readWrite and unique (uniqueness "server"). This service
# only ever matches it (an existing userName answers 409 on create, a different one 400 on PUT),
# but publishing it read-only and required made strict clients leave it out and get 400.
_AS_IN_RFC = ("userName",)
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_RETRY_AFTER_S = "30"


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


class ScimError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}


def error_response(
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE
    )
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="stitch-connector"'}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _scim(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# ---------------------------------------------------------------------- the directory


@dataclass(frozen=True)
class Entry:
    """One SCIM user: a member as last seen, and whether Stitch still has them active."""

    member: Member
    client_id: int
    active: bool
    seen_at: datetime

    @property
    def id(self) -> str:
        return user_id(self.client_id, self.member.email)

    @property
    def version(self) -> str:
        """A weak ETag: this member's share of the roster fingerprint (same canonical JSON)."""
        blob = json.dumps(
            {"member": self.member.model_dump(mode="json"), "active": self.active},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return f'W/"{hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]}"'

    def user(self, base_url: str) -> User[Any]:
        m = self.member
        roles = [ScimRole(value=m.role.value, primary=True)]
        if m.invoice_admin:
            roles.append(ScimRole(value="Invoice Admin"))
        return User(
            id=self.id,
            user_name=m.email,
            display_name=m.name,
            name=Name(formatted=m.name) if m.name else None,
            active=self.active,
            emails=[Email(value=m.email, type="work", primary=True)],
            roles=roles,
            meta=Meta(
                resource_type="User",
                location=f"{base_url}/Users/{self.id}",
                version=self.version,
                last_modified=self.seen_at,
            ),
        )


def user_id(client_id: int, email: str) -> str:
    """Stable: the same member of the same account always has the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{client_id}:{email.lower()}"))


async def directory(service: Service) -> list[Entry]:
    try:
        roster = await service.worker.roster()
    except ConnectorError as exc:
        raise ScimError(
            503,
            f"no roster could be read from Stitch yet: {exc}",
            headers={"Retry-After": _RETRY_AFTER_S},
        ) from None
    return entries(
        roster,
        service.jobs.removed(roster.account.client_id),
        service.snapshots.changed_at(),
    )


def entries(
    roster: MemberList,
    removed: dict[str, tuple[Member, bool]],
    changed: dict[str, datetime] | None = None,
) -> list[Entry]:
    """`changed`: when each member last changed (SnapshotStore.changed_at): meta.lastModified.
    A member the history does not know gets the roster's read time."""
    client_id = roster.account.client_id
    since = changed or {}
    found: list[Entry] = []
    listed = set()
    for m in roster.members:
        listed.add(m.email)
        _, deleted = removed.get(m.email, (None, False))
        if m.status is Status.DEACTIVATED and deleted:
            continue  # deleted through SCIM: 404 from now on
        active = m.status is not Status.DEACTIVATED
        found.append(Entry(m, client_id, active, since.get(m.email, roster.scraped_at)))
    for email, (member, deleted) in removed.items():
        if email not in listed and not deleted:
            found.append(Entry(member, client_id, False, since.get(email, roster.scraped_at)))
    return found


async def _find(service: Service, id_: str) -> Entry:
    for entry in await directory(service):
        if entry.id == id_:
            return entry
    raise ScimError(404, f"no user {id_!r}")


# ---------------------------------------------------------------------- discovery


def service_provider_config(base_url: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="Authorization: Bearer <token> (STITCH_SERVICE_TOKENS)",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"
        ),
    )


def user_schema(base_url: str) -> Schema:
    """The core User schema cut to what is served; only `active` may be written."""
    full = User.to_schema()
    attributes = []
    for attribute in full.attributes or []:
        if attribute.name not in _SUPPORTED:
            continue
        if attribute.name in _AS_IN_RFC:
            attributes.append(attribute)  # required, readWrite, uniqueness server: as RFC 7643
            continue
        mutability = "readWrite" if attribute.name in _WRITABLE else "readOnly"
        attributes.append(attribute.model_copy(update={"mutability": mutability}))
    return full.model_copy(
        update={
            "attributes": attributes,
            "meta": Meta(resource_type="Schema", location=f"{base_url}/Schemas/{full.id}"),
        }
    )


def user_resource_type(base_url: str) -> ResourceType:
    found = ResourceType.from_resource(User)
    return found.model_copy(
        update={
            "description": "A member of the Stitch account",
            "meta": Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/User"),
        }
    )


# ---------------------------------------------------------------------- the routes


def router(service: Service) -> APIRouter:
    api = APIRouter(tags=["scim"])
    removal_lock = asyncio.Lock()  # find-or-queue one job per user, never two at once

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/scim/v2"

    @api.get("/ServiceProviderConfig", dependencies=[READ])
    async def spc(request: Request) -> Any:
        return _scim(
            service_provider_config(base(request)).model_dump(
                scim_ctx=Context.RESOURCE_QUERY_RESPONSE
            )
        )

    @api.get("/ResourceTypes", dependencies=[READ])
    async def resource_types(request: Request) -> Any:
        found = [user_resource_type(base(request))]
        listing = ListResponse[ResourceType](
            total_results=1, start_index=1, items_per_page=1, resources=found
        )
        return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

    @api.get("/ResourceTypes/{name}", dependencies=[READ])
    async def resource_type(request: Request, name: str) -> Any:
        if name != "User":
            raise ScimError(404, f"no resource type {name!r}: only User is served")
        return _scim(
            user_resource_type(base(request)).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        )

    @api.get("/Schemas", dependencies=[READ])
    async def schemas(request: Request) -> Any:
        listing = ListResponse[Schema](
            total_results=1, start_index=1, items_per_page=1, resources=[user_schema(base(request))]
        )
        return _scim(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

    @api.get("/Schemas/{schema_id}", dependencies=[READ])
    async def schema(request: Request, schema_id: str) -> Any:
        found = user_schema(base(request))
        if schema_id != found.id:
            raise ScimError(404, f"no schema {schema_id!r}")
        return _scim(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))

    @api.get("/Users", dependencies=[READ])
    async def list_users(
        request: Request,
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
        search = _validate(
            SearchRequest[User[Any]],
            {k: v for k, v in params.items() if v is not None},
            Context.SEARCH_REQUEST,
        )
        url = base(request)
        users = [e.user(url) for e in await directory(service)]
        if search.filter is not None:
            users = [u for u in users if search.filter.match(u)]
        start = max(search.start_index or 1, 1)
        size = min(search.count if search.count is not None else MAX_RESULTS, MAX_RESULTS)
        page = users[start - 1 : start - 1 + max(size, 0)]
        listing = ListResponse[User[Any]](
            total_results=len(users), start_index=start, items_per_page=len(page), resources=page
        )
        return _scim(
            listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search)
        )

    @api.get("/Users/{id_}", dependencies=[READ])
    async def get_user(
        request: Request,
        id_: UserId,
        if_none_match: IfNoneMatch = None,
        attributes: Annotated[str | None, Query(max_length=2000)] = None,
        excludedAttributes: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Any:
        params = {"attributes": attributes, "excludedAttributes": excludedAttributes}
        shown = _validate(
            ResponseParameters[User[Any]],
            {k: v for k, v in params.items() if v is not None},
            Context.RESOURCE_QUERY_REQUEST,
        )
        entry = await _find(service, id_)
        if if_none_match and entry.version in _tags(if_none_match):
            return Response(status_code=304, headers={"ETag": entry.version})
        return _user_response(entry, base(request), shown)

    @api.post("/Users", status_code=201, dependencies=[WRITE], openapi_extra=_USER_BODY)
    async def create_user(request: Request) -> Any:
        """Not supported yet: people join Stitch by invitation (501). An existing userName
        answers 409, so an IdP links to it instead."""
        user = _validate(
            User[EnterpriseUser], await _body(request), Context.RESOURCE_CREATION_REQUEST
        )
        if not (user.user_name or "").strip():
            raise ScimError(400, "userName is required", "invalidValue")
        _check_user_name(user.user_name)
        if any(e.member.email == (user.user_name or "").lower() for e in await directory(service)):
            raise ScimError(409, f"a user {user.user_name!r} already exists", "uniqueness")
        raise ScimError(
            501,
            "creating users is not supported: invite them in Stitch (Settings → Team Members)",
        )

    @api.put("/Users/{id_}", dependencies=[WRITE], openapi_extra=_USER_BODY)
    async def replace_user(request: Request, id_: UserId, if_match: IfMatch = None) -> Any:
        """Only `active` is acted on: false deactivates; the other attributes are Stitch's
        and are left as they are (the response shows them as they are)."""
        user = _validate(
            User[EnterpriseUser], await _body(request), Context.RESOURCE_REPLACEMENT_REQUEST
        )
        _check_user_name(user.user_name)
        entry = _precondition(await _find(service, id_), if_match)
        if user.user_name is not None and user.user_name.lower() != entry.member.email:
            raise ScimError(400, "userName cannot be changed", "mutability")
        return await _set_active(request, entry, user.active, deleting=False)

    @api.patch("/Users/{id_}", dependencies=[WRITE], openapi_extra=_PATCH_BODY)
    async def patch_user(request: Request, id_: UserId, if_match: IfMatch = None) -> Any:
        """`replace active false` deactivates (RFC 7644 §3.5.2, and the Okta and Entra forms)."""
        body = await _body(request)
        if not isinstance(body, dict) or PATCH_OP_SCHEMA not in (body.get("schemas") or []):
            raise ScimError(  # RFC 7644 §3.5.2: a PatchOp names its schema; never guessed
                400, f"a PATCH body must have schemas [{PATCH_OP_SCHEMA!r}]", "invalidSyntax"
            )
        patch = _validate(PatchOp[User[Any]], body, Context.RESOURCE_PATCH_REQUEST)
        entry = _precondition(await _find(service, id_), if_match)
        url = base(request)
        before = entry.user(url)
        after = before.model_copy(deep=True)
        try:
            patch.patch(after)
        except SCIMException as exc:
            raise ScimError(exc.status, exc.detail, exc.scim_type or None) from None
        if _without_active(after) != _without_active(before):
            raise ScimError(400, "only `active` can be changed through this service", "mutability")
        return await _set_active(request, entry, after.active, deleting=False)

    @api.delete("/Users/{id_}", status_code=204, response_class=Response, dependencies=[WRITE])
    async def delete_user(request: Request, id_: UserId, if_match: IfMatch = None) -> Response:
        """Deactivates the member in Stitch; the user then answers 404."""
        entry = _precondition(await _find(service, id_), if_match)
        await _set_active(request, entry, False, deleting=True)
        return Response(status_code=204)

    async def _set_active(
        request: Request, entry: Entry, active: bool | None, *, deleting: bool
    ) -> Any:
        url = base(request)
        if active is None or (active and entry.active):  # nothing asked of Stitch
            return _user_response(await _find_or(service, entry), url, None)
        if active:
            raise ScimError(
                501, "reactivating a user is not supported: invite them again in Stitch"
            )
        # Deactivate, even when the snapshot says it is done already: only a fresh read proves
        # it (someone may have re-invited them since), and a replay costs a read, not a click.
        async with removal_lock:
            job = service.jobs.unfinished_for(entry.member.email)
            if job is None:
                job, _ = service.jobs.submit(
                    OffboardingRequest(
                        email=entry.member.email,
                        request_id=f"scim-{uuid.uuid4().hex}",
                        requested_by="scim",
                        reason=f"SCIM {request.method} {request.url.path}",
                    ),
                    source="scim",
                    principal=principal_of(request).name,
                )
        service.worker.wake()
        finished = await service.worker.wait_for(job.id, service.settings.service_wait_s)
        if finished is None or not finished.status.finished:
            raise ScimError(
                503,
                f"still deactivating {entry.member.email} (job {job.id}); try again shortly",
                headers={"Retry-After": _RETRY_AFTER_S},
            )
        outcome = finished.outcome
        assert outcome is not None
        if finished.status is JobStatus.SUCCEEDED:
            service.jobs.remember_removed(entry.member, entry.client_id, deleted=deleting)
            return _user_response(await _find_or(service, entry, active=False), url, None)
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

    return api


# ---------------------------------------------------------------------- helpers


async def _find_or(service: Service, entry: Entry, *, active: bool | None = None) -> Entry:
    """The entry as the directory has it now, else as we know it."""
    for found in await directory(service):
        if found.id == entry.id:
            return found
    return Entry(
        entry.member, entry.client_id, entry.active if active is None else active, entry.seen_at
    )


def _user_response(entry: Entry, url: str, shown: ResponseParameters[User[Any]] | None) -> Any:
    body = entry.user(url).model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=shown
    )
    return _scim(body, headers={"ETag": entry.version, "Location": f"{url}/Users/{entry.id}"})


def _without_active(user: User[Any]) -> dict[str, Any]:
    dumped = user.model_dump(scim_ctx=None, exclude_none=True)
    dumped.pop("active", None)
    return dumped


def _tags(header: str) -> set[str]:
    return {t.strip() for t in header.split(",") if t.strip()}


def _precondition(entry: Entry, if_match: str | None) -> Entry:
    if if_match and "*" not in _tags(if_match) and entry.version not in _tags(if_match):
        raise ScimError(412, "the user changed since that ETag (If-Match)")
    return entry


async def _body(request: Request) -> Any:
    try:
        raw = await request.body()  # bounded as it arrives: over the limit is a 413 (limits.py)
    except ClientDisconnect:  # gone, or cut off at the limit (the 413 has been sent)
        raise ScimError(400, "the request body did not arrive", "invalidSyntax") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from None


def _check_user_name(user_name: str | None) -> None:
    """userName is a Stitch email: the same rule as every other entry point (is_requested_email)."""
    if user_name is not None and not is_requested_email(user_name):
        raise ScimError(
            400,
            "userName must be an email address: an ASCII local part of at most 64 characters, "
            f"a domain (IDNA A-labels), at most {MAX_EMAIL_LENGTH} characters",
            "invalidValue",
        )


def _refuse_unsafe_strings(data: Any, where: str = "") -> None:
    """Every string of a request, keys and values, at any depth: no control, escape or bidi
    characters (models.UNSAFE_CHARS), the same rule as the HTTP API's SafeText."""
    if isinstance(data, str):
        if (bad := unsafe_char(data)) is not None:
            raise ScimError(
                400,
                f"{where or 'the body'}: must not contain control, escape or bidirectional "
                f"characters (found U+{ord(bad):04X})",
                "invalidValue",
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            _refuse_unsafe_strings(key, where)
            _refuse_unsafe_strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _refuse_unsafe_strings(value, f"{where}[{i}]")


def _validate(model: Any, data: Any, context: Context) -> Any:
    if not isinstance(data, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    _refuse_unsafe_strings(data)
    try:
        return model.model_validate(data, scim_ctx=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        kind = str(first.get("type", ""))
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        scim_type = kind.removeprefix("scim_") if kind.startswith("scim_") else "invalidValue"
        raise ScimError(400, detail, scim_type) from None
    except SCIMException as exc:
        raise ScimError(exc.status, exc.detail, exc.scim_type or None) from None
