"""The SCIM User schema this service publishes (GET /scim/v2/Schemas), built without a server."""

from __future__ import annotations

import warnings

from scim2_models import Context, ListResponse, Schema

from connector.service.scim.discovery import user_schema


def test_the_published_user_schema_serialises_without_a_warning() -> None:
    schema = user_schema("http://127.0.0.1:1/scim/v2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a serializer warning is a value Pydantic did not expect
        one = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        ListResponse[Schema](
            total_results=1, start_index=1, items_per_page=1, resources=[schema]
        ).model_dump(scim_ctx=Context.SEARCH_RESPONSE)
    # What each attribute says is tests/service/test_scim.py's: here, that it says it cleanly.
    assert {a["name"]: a["mutability"] for a in one["attributes"]}["active"] == "readWrite"
