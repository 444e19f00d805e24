"""The SCIM view of the account: the latest snapshot's members, plus the members this service
removed (findable with active false until deleted), each a User with a stable id and an ETag."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim2_models import Email, Meta, Name, User
from scim2_models import Role as ScimRole

from connector.errors import ConnectorError
from connector.models import Member, MemberList, Status
from connector.service.scim.errors import RETRY_AFTER_S, ScimError
from connector.service.scim.stitch_extension import StitchMember, stitch_member
from connector.service.state import Service

_ID_NAMESPACE = uuid.UUID("5b0f6a39-3c55-4c84-9a3e-2f1d6f1b7a10")  # stitch-connector's own


@dataclass(frozen=True)
class Entry:
    """One SCIM user: a member as last seen, and whether Stitch still has them active."""

    member: Member
    client_id: int
    active: bool
    seen_at: datetime
    external_id: str | None = None  # as the IdP set it (Stitch has none)
    idp_roles: str | None = None  # the roles JSON the IdP last set; None: it never did

    @property
    def id(self) -> str:
        return user_id(self.client_id, self.member.email)

    @property
    def version(self) -> str:
        """A weak ETag: this member's share of the roster fingerprint (same canonical JSON)."""
        blob = json.dumps(
            {
                "member": self.member.model_dump(mode="json"),
                "active": self.active,
                "externalId": self.external_id,
                "roles": self.idp_roles,
            },
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return f'W/"{hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]}"'

    def user(self, base_url: str) -> User[Any]:
        m = self.member
        user = User[StitchMember](
            id=self.id,
            external_id=self.external_id,
            user_name=m.email,
            display_name=m.name,
            name=Name(formatted=m.name) if m.name else None,
            active=self.active,
            emails=[Email(value=m.email, type="work", primary=True)],
            roles=self.roles(),
            meta=Meta(
                resource_type="User",
                location=f"{base_url}/Users/{self.id}",
                version=self.version,
                last_modified=self.seen_at,
            ),
        )
        user[StitchMember] = stitch_member(m)
        return user

    def roles(self) -> list[ScimRole] | None:
        """The roles as the IdP set them while they agree with Stitch (its primary value is the
        member's role; none, after the IdP removed them); else Stitch's own: the role, primary,
        and `Invoice Admin`."""
        m = self.member
        if self.idp_roles is not None:
            said = [ScimRole.model_validate(r) for r in json.loads(self.idp_roles)]
            first = next((r for r in said if r.primary), said[0] if said else None)
            if first is None:
                return None
            if first.value == m.role.value:
                return said
        roles = [ScimRole(value=m.role.value, primary=True)]
        if m.invoice_admin:
            roles.append(ScimRole(value="Invoice Admin"))
        return roles


def user_id(client_id: int, email: str) -> str:
    """Stable: the same member of the same account always has the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{client_id}:{email.lower()}"))


async def directory(service: Service) -> list[Entry]:
    try:
        roster = await service.queue.worker.roster()
    except ConnectorError as exc:
        raise ScimError(
            503,
            f"no roster could be read from Stitch yet: {exc}",
            headers={"Retry-After": RETRY_AFTER_S},
        ) from None
    client_id = roster.account.client_id
    return entries(
        roster,
        service.app.jobs.removed(client_id),
        service.app.changed_at(),
        service.app.jobs.scim_attributes(client_id),
    )


def entries(
    roster: MemberList,
    removed: dict[str, tuple[Member, bool]],
    changed: dict[str, datetime] | None = None,
    said: dict[str, tuple[str | None, str | None]] | None = None,
) -> list[Entry]:
    """`changed`: when each member last changed (SnapshotStore.changed_at): meta.lastModified.
    A member the history does not know gets the roster's read time."""
    client_id = roster.account.client_id
    since = changed or {}
    idp = said or {}
    found: list[Entry] = []
    listed = set()
    for m in roster.members:
        listed.add(m.email)
        _, deleted = removed.get(m.email, (None, False))
        if m.status is Status.DEACTIVATED and deleted:
            continue  # deleted through SCIM: 404 from now on
        active = m.status is not Status.DEACTIVATED
        at = since.get(m.email, roster.scraped_at)
        found.append(Entry(m, client_id, active, at, *idp.get(m.email, (None, None))))
    for email, (member, deleted) in removed.items():
        if email not in listed and not deleted:
            at = since.get(email, roster.scraped_at)
            found.append(Entry(member, client_id, False, at, *idp.get(email, (None, None))))
    return found


async def find(service: Service, id_: str) -> Entry:
    for entry in await directory(service):
        if entry.id == id_:
            return entry
    raise ScimError(404, f"no user {id_!r}")


async def find_or(service: Service, entry: Entry, *, active: bool | None = None) -> Entry:
    """The entry as the directory has it now, else as we know it."""
    for found in await directory(service):
        if found.id == entry.id:
            return found
    return dataclasses.replace(entry, active=entry.active if active is None else active)


async def find_email(service: Service, email: str) -> Entry:
    """The member with this address as the directory has it now (after a write stored the
    roster that proved it)."""
    for entry in await directory(service):
        if entry.member.email == email:
            return entry
    raise ScimError(
        500, f"{email} was provisioned, but the service has no roster showing it yet; GET later"
    )
