"""A small synchronous facade for scripts and notebooks: each call is one operation of the
account's App, run to completion.

from connector import list_members
roster = list_members()            # settings from STITCH_* variables
"""

from __future__ import annotations

from connector import runner
from connector.app import App, ProgressCallback, RunOptions
from connector.logs import new_run_id
from connector.models import MemberList
from connector.settings import Settings, load_settings


def list_members(
    settings: Settings | None = None, *, on_progress: ProgressCallback | None = None
) -> MemberList:
    app = App(settings or load_settings())
    run = RunOptions(run_id=new_run_id(), command="StitchConnector", on_progress=on_progress)
    return runner.run(lambda: app.members(run))
