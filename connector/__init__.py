"""stitch-connector: see and remove who has access to a Stitch account, through its admin web UI.

The public API is imported lazily so that `import connector` (and `stitch-connector --help`) stays
light: Playwright loads only when a browser is needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "StitchConnector": "connector.client",
    "App": "connector.app",
    "RunOptions": "connector.operations",
    "Settings": "connector.settings",
    "load_settings": "connector.settings",
    "Account": "connector.models",
    "Member": "connector.models",
    "MemberList": "connector.models",
    "Role": "connector.models",
    "Status": "connector.models",
    "Progress": "connector.models",
    "Outcome": "connector.models",
    "OutcomeStatus": "connector.models",
    "Plan": "connector.models",
    "ConnectorError": "connector.errors",
    "ConfigError": "connector.errors",
    "AuthFailed": "connector.errors",
    "HumanNeeded": "connector.errors",
    "SessionExpired": "connector.errors",
    "PageNotRecognised": "connector.errors",
    "TransientFailure": "connector.errors",
    "ExitCode": "connector.errors",
    "list_members": "connector.blocking",
    "offboard": "connector.offboarding",
    "offboard_async": "connector.offboarding",
    "IdempotencyConflict": "connector.errors",
    "approve": "connector.approving",
    "reject": "connector.approving",
    "list_approvals": "connector.approving",
}

__all__ = [
    "Account",
    "App",
    "AuthFailed",
    "ConfigError",
    "ConnectorError",
    "ExitCode",
    "HumanNeeded",
    "IdempotencyConflict",
    "Member",
    "MemberList",
    "Outcome",
    "OutcomeStatus",
    "PageNotRecognised",
    "Plan",
    "Progress",
    "Role",
    "RunOptions",
    "SessionExpired",
    "Settings",
    "Status",
    "StitchConnector",
    "TransientFailure",
    "__version__",
    "approve",
    "list_approvals",
    "list_members",
    "load_settings",
    "offboard",
    "offboard_async",
    "reject",
]

if TYPE_CHECKING:
    from connector.app import App
    from connector.approving import approve, list_approvals, reject
    from connector.blocking import list_members
    from connector.client import StitchConnector
    from connector.errors import (
        AuthFailed,
        ConfigError,
        ConnectorError,
        ExitCode,
        HumanNeeded,
        IdempotencyConflict,
        PageNotRecognised,
        SessionExpired,
        TransientFailure,
    )
    from connector.models import (
        Account,
        Member,
        MemberList,
        Outcome,
        OutcomeStatus,
        Plan,
        Progress,
        Role,
        Status,
    )
    from connector.offboarding import offboard, offboard_async
    from connector.operations import RunOptions
    from connector.settings import Settings, load_settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'connector' has no attribute {name!r}")
    return getattr(import_module(module), name)
