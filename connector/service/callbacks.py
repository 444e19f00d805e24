"""Moved to connector.offboard.callbacks (issue 13). Kept only for settings.py's import of
AllowList, not yet updated: delete once it imports the core."""

from connector.offboard.addresses import AllowList

__all__ = ["AllowList"]
