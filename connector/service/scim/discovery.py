"""SCIM discovery (RFC 7644 §4): what this service offers, read by IdPs before they provision:
ServiceProviderConfig, ResourceTypes (User only) and Schemas (the User schema cut to what is
served; only `active` may be written)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from scim2_models import (
    Attribute,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    ListResponse,
    Meta,
    Mutability,
    Patch,
    Required,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

from connector.models import Role
from connector.service.auth import READ
from connector.service.scim.errors import ScimError, scim_json
from connector.service.scim.requests import base_url
from connector.service.scim.stitch_extension import StitchMember

MAX_RESULTS = 200
# What a user resource carries; everything else in the core schema is never set.
_SUPPORTED = ("userName", "name", "displayName", "active", "emails", "roles")
_WRITABLE = ("active", "roles")  # roles: grants.py; its values are the Stitch roles
# userName is required and unique (RFC 7643 §4.1.1), and immutable here: it is the Stitch email,
# set by the invitation and never changed through this service (a different one on PUT is 400).
# Published read-only, strict clients left it out of a create and got 400.
_IMMUTABLE = ("userName",)
# Every Stitch member is active or not: `active` is never absent from a user (a PatchOp cannot
# remove it), so it is published required. A create without it is still an invitation (active).
_ALWAYS = ("active",)

router = APIRouter(tags=["scim"], dependencies=[READ])


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
        # The enum, not its text: model_copy does not validate, and a string here serialises
        # with a warning (Pydantic expects the enum) on every /Schemas answer.
        mutability = Mutability.read_write if attribute.name in _WRITABLE else Mutability.read_only
        if attribute.name in _IMMUTABLE:
            mutability = Mutability.immutable
        update: dict[str, object] = {"mutability": mutability}
        if attribute.name in _ALWAYS:
            update["required"] = Required.true
        if attribute.name == "roles":
            update["sub_attributes"] = [_role_values(sub) for sub in attribute.sub_attributes or []]
        attributes.append(attribute.model_copy(update=update))
    return full.model_copy(
        update={
            "attributes": attributes,
            "meta": Meta(resource_type="Schema", location=f"{base_url}/Schemas/{full.id}"),
        }
    )


def _role_values(sub: Attribute) -> Attribute:
    """roles.value: one of the Stitch roles (RFC 7643 §7 canonicalValues)."""
    if sub.name != "value":
        return sub
    return sub.model_copy(update={"canonical_values": [r.value for r in Role]})


@router.post("/.search", include_in_schema=False)  # a refusal: nothing to document
async def search_everything() -> Any:
    """RFC 7644 §3.4.3 lets a server search every resource type at once; there is one."""
    raise ScimError(
        501, "searching several resource types at once is not supported: POST /Users/.search"
    )


def user_resource_type(base_url: str) -> ResourceType:
    found = ResourceType.from_resource(User[StitchMember])
    return found.model_copy(
        update={
            "description": "A member of the Stitch account",
            "meta": Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/User"),
        }
    )


@router.get("/ServiceProviderConfig")
async def spc(request: Request) -> Any:
    config = service_provider_config(base_url(request))
    return scim_json(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@router.get("/ResourceTypes")
async def resource_types(request: Request) -> Any:
    found = [user_resource_type(base_url(request))]
    listing = ListResponse[ResourceType](
        total_results=1, start_index=1, items_per_page=1, resources=found
    )
    return scim_json(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@router.get("/ResourceTypes/{name}")
async def resource_type(request: Request, name: str) -> Any:
    if name != "User":
        raise ScimError(404, f"no resource type {name!r}: only User is served")
    found = user_resource_type(base_url(request))
    return scim_json(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def all_schemas(base_url: str) -> list[Schema]:
    """The User schema as served, and the Stitch extension (read-only)."""
    extension = StitchMember.to_schema()
    location = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{extension.id}")
    return [user_schema(base_url), extension.model_copy(update={"meta": location})]


@router.get("/Schemas")
async def schemas(request: Request) -> Any:
    found = all_schemas(base_url(request))
    listing = ListResponse[Schema](
        total_results=len(found), start_index=1, items_per_page=len(found), resources=found
    )
    return scim_json(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@router.get("/Schemas/{schema_id}")
async def schema(request: Request, schema_id: str) -> Any:
    found = next((s for s in all_schemas(base_url(request)) if s.id == schema_id), None)
    if found is None:
        raise ScimError(404, f"no schema {schema_id!r}")
    return scim_json(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
