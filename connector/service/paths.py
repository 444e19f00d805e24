"""Where a request is, inside the app that serves it. Under `serve` for several accounts each
account's app is mounted at /accounts/<name>: its routes, token areas and error shapes are
decided on the path below the mount, and the links it hands out carry the mount's prefix."""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The path below the app's mount (the whole path when it is not mounted)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] or "/" if root and path.startswith(root) else path
