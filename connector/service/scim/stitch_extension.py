"""The Stitch side of a SCIM user, in its own extension schema (read-only): the role Stitch
gives the member, its status there (an invitation still pending shows here), and whether it is
the Invoice Admin. Core `roles` carries what the IdP assigned (directory.py); this carries
what Stitch shows, whatever the IdP said."""

from __future__ import annotations

from typing import Annotated

from scim2_models import URN, Extension, Mutability

from connector.models import Member

SCHEMA = "urn:stitch-connector:params:scim:schemas:extension:stitch:2.0:User"


class StitchMember(Extension):
    __schema__ = URN(SCHEMA)

    role: Annotated[str | None, Mutability.read_only] = None
    """The member's role in Stitch: Administrator or General User."""

    status: Annotated[str | None, Mutability.read_only] = None
    """active, pending (an invitation not accepted yet) or deactivated."""

    invitation_pending: Annotated[bool | None, Mutability.read_only] = None
    """The member has not accepted the invitation yet."""

    invoice_admin: Annotated[bool | None, Mutability.read_only] = None
    """The member receives the account's invoices."""


def stitch_member(member: Member) -> StitchMember:
    return StitchMember(
        role=member.role.value,
        status=member.status.value,
        invitation_pending=member.status.value == "pending",
        invoice_admin=member.invoice_admin,
    )
