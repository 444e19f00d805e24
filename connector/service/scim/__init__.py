"""SCIM 2.0 (RFC 7643/7644) at /scim/v2, so an IdP's own deprovisioning reaches Stitch.

Resources, messages and filters are scim2-models'. By concern: discovery.py (what is served),
users.py (Users: read, provision and deprovision), grants.py (provisioning runs), directory.py
(the members as SCIM users, with what the IdP said that Stitch does not hold), requests.py
(bodies checked and validated), errors.py (the SCIM Error shape).
"""

from __future__ import annotations

from fastapi import APIRouter

from connector.service.scim import discovery, users

router = APIRouter()
router.include_router(discovery.router)
router.include_router(users.router)
