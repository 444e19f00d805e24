"""Moved to connector.offboard_queue.callbacks (issue 13). Kept only for settings.py's import of
AllowList, not yet updated: delete once it imports the core."""

from connector.offboard_queue.addresses import AllowList

__all__ = ["AllowList"]
