"""`stitch-connector login --interactive`: a person signs in; headless runs reuse the session."""

from __future__ import annotations

import typer

from connector.app import App, RunOptions
from connector.cli import common
from connector.errors import UsageProblem
from connector.logs import new_run_id


def login(
    interactive: bool = typer.Option(
        False, "--interactive", help="Open a visible browser and let a person finish sign-in."
    ),
    timeout_minutes: float = typer.Option(10.0, help="How long to wait for the person."),
) -> None:
    """Sign in by hand (SSO, a hardware key, a CAPTCHA) and save the session (mode 0600) for
    later headless runs. This is the supported path for SSO-only accounts: set STITCH_EMAIL
    to the account's email, run this once, then run the other commands as usual.

    Needs a display: a workstation, or `xvfb-run -a` plus VNC on a server.
    """
    if not interactive:
        raise UsageProblem(
            "login needs --interactive: every other command already signs in by itself"
        )
    settings = common.settings_from(headless=False)
    run_id = new_run_id()
    common.start_logging(run_id)
    common.stderr.print(
        f"Opening {settings.base_url} in a browser window: finish signing in there. "
        f"Waiting up to {timeout_minutes:g} minutes.",
        highlight=False,
    )

    run = RunOptions(run_id=run_id, command=common.command_line())
    report = common.run(
        lambda: App(settings).login_interactive(run, timeout_s=timeout_minutes * 60)
    )
    when = (
        f"{report.expires_at:%Y-%m-%d %H:%M} UTC"
        if report.expires_at
        else "when Stitch ends the session (a browser-session cookie; Stitch does not document "
        "its lifetime)"
    )
    print(f"Signed in. Session saved to {report.saved_to}; it will likely expire {when}.")
