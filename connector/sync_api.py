"""A small synchronous facade for scripts and notebooks.

from connector import list_members
roster = list_members()            # settings from STITCH_* variables
"""

from __future__ import annotations

import asyncio

from connector.client import ProgressCallback, StitchConnector
from connector.models import MemberList
from connector.settings import Settings, load_settings


def list_members(
    settings: Settings | None = None, *, on_progress: ProgressCallback | None = None
) -> MemberList:
    async def run() -> MemberList:
        async with StitchConnector(settings or load_settings(), on_progress=on_progress) as stitch:
            return await stitch.list_members()

    return asyncio.run(run())
