"""`stitch-connector demo`: the main job, end to end, on the embedded sandbox."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from connector.cli import common, render
from connector.cli.members import scrape


def demo(
    variant: common.Variant = typer.Option(
        common.Variant.current, help="Which Stitch UI generation the sandbox imitates."
    ),
    members: int = typer.Option(120, help="How many members the sandbox generates."),
    mfa: bool = typer.Option(True, "--mfa/--no-mfa", help="Sign in through a TOTP step."),
    as_json: bool = typer.Option(False, "--json", help="Print the MemberList as JSON."),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
    state_dir: Path | None = typer.Option(
        None, help="Keep the session and evidence here (default: a temporary folder)."
    ),
) -> None:
    """Start a local Stitch look-alike, sign in to it, and list its members.

    Everything runs on this machine: no Stitch account is needed. The same code path signs in
    to real Stitch when STITCH_BASE_URL, STITCH_EMAIL and STITCH_PASSWORD are set.
    """
    if common.state.log_level is None:
        common.state.log_level = "warning"  # a demo is watched by a person: keep stderr quiet
    from connector.sandbox.options import SandboxOptions
    from connector.sandbox.server import running_sandbox

    options = SandboxOptions(variant=variant.value, members=members, mfa="totp" if mfa else "off")
    with tempfile.TemporaryDirectory(prefix="stitch-demo-") as tmp, running_sandbox(options) as box:
        if not as_json:
            common.stderr.print(
                f"Sandbox ({variant.value}) at {box.app_url}, sign-in origin {box.login_url}; "
                f"signing in as {box.login_email}" + (" with TOTP" if mfa else ""),
                highlight=False,
            )
        settings = common.settings_from(
            base_url=box.app_url,
            email=box.login_email,
            password=options.admin_password,
            totp_secret=options.totp_secret if mfa else None,
            state_dir=state_dir or Path(tmp),
            headless=False if headed else None,
        )
        roster = scrape(settings, progress=not as_json)
    if as_json:
        common.write_output(render.to_json(roster), None)
    else:
        render.print_table(roster, render.stdout_console())
