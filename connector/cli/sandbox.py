"""`stitch-connector sandbox`: run the local Stitch look-alike in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from connector.cli import common

if TYPE_CHECKING:
    from connector.sandbox.options import SandboxOptions
    from connector.sandbox.server import RunningSandbox


_ACCOUNTS = typer.Option(
    1,
    "--accounts",
    min=1,
    max=16,
    help="Run this many Stitch accounts at once (each its own origins on free ports, roster "
    "and client id), and write --accounts-file for them.",
)
_ACCOUNTS_FILE = typer.Option(
    Path("sandbox-accounts.toml"),
    "--accounts-file",
    help="With --accounts N > 1: where to write the accounts file (its password files go beside "
    "it). Then: STITCH_ACCOUNTS_FILE=<it> stitch-connector sync --all.",
)


def sandbox(
    variant: common.Variant = typer.Option(
        common.Variant.current, help="Which Stitch UI generation to imitate."
    ),
    members: int = typer.Option(12, help="Generated roster size, the login admin included."),
    seed: int = typer.Option(116078, help="Seed for the generated roster and the fault dice."),
    members_file: Path | None = typer.Option(
        None, help="Load this exact roster (JSON list; see README) instead of generating one."
    ),
    admin_email: str = typer.Option("admin@example.com", help="The Administrator's sign-in."),
    admin_password: str = typer.Option("sandbox-password", help="The Administrator's password."),
    totp_secret: str = typer.Option(
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", help="Base32 TOTP seed for --mfa totp."
    ),
    mfa: common.Mfa = typer.Option(common.Mfa.off, help="Ask for a 6-digit code."),
    sso: bool = typer.Option(False, "--sso", help="Send non-Administrators to a fake IdP."),
    session_ttl: float = typer.Option(43200.0, help="Seconds before a session expires."),
    latency_ms: int = typer.Option(150, help="Delay before member data arrives."),
    fault_rate: float = typer.Option(
        0.0, help="Fraction (0-1) of member-data and write requests that 500."
    ),
    confirm_dialog: common.OnOff = typer.Option(
        common.OnOff.on,
        "--confirm-dialog",
        help="on: ask for confirmation before Deactivate and Cancel invitation; off: act at once.",
    ),
    keep_deactivated: bool = typer.Option(
        False,
        "--keep-deactivated",
        help="Keep deactivated members in the list, with status Deactivated.",
    ),
    drop_banner: bool = typer.Option(
        False, "--drop-banner", help="Show no success banner after a write (it still happens)."
    ),
    slow_write_ms: int = typer.Option(0, help="How late writes are (see --slow-write-mode)."),
    slow_write_mode: common.SlowWriteMode = typer.Option(
        common.SlowWriteMode.answer,
        help="answer: act at once, answer late; act: act late (a fresh read still shows the "
        "member right after the click).",
    ),
    hide_rows: float = typer.Option(
        0.0, help="Silently show only the first (1 - R) of the members, count to match (0-1)."
    ),
    drift: bool = typer.Option(
        False,
        "--drift",
        help="Imitate a Stitch UI release: renamed classes, reordered columns, new button labels.",
    ),
    mutate: list[str] = typer.Option(
        [],
        "--mutate",
        help="Apply a drift-corpus mutation (an invented UI release; repeatable). "
        "See --list-mutations.",
    ),
    mutation_script: Path | None = typer.Option(
        None,
        "--mutation-script",
        help="Your own JS transforms, served and run like the built-in mutations "
        "(docs/sandbox-dom.md 'Drift corpus').",
    ),
    list_mutations: bool = typer.Option(
        False,
        "--list-mutations",
        help="Print the drift corpus (name, area, expect, what) and exit.",
    ),
    seat_limit: int | None = typer.Option(
        None, help="The plan's seat limit (active and invited members); none: unlimited."
    ),
    plan: str = typer.Option("Standard", help="The plan's name, as the seat-limit texts say it."),
    other_account_email: list[str] = typer.Option(
        ["analyst@other-account.example"],
        help="A member of a second Stitch account (inviting them fails); repeat for several.",
    ),
    host: str = typer.Option("127.0.0.1", help="App origin host (the login origin is localhost)."),
    port: int = typer.Option(8765, help="App origin port (0: any free port)."),
    login_port: int = typer.Option(8766, help="Login origin port (0: any free port)."),
    accounts: int = _ACCOUNTS,
    accounts_file: Path = _ACCOUNTS_FILE,
) -> None:
    """Run a local Stitch look-alike: sign-in on two origins, Members rendered by JavaScript.

    Point the connector at it with STITCH_BASE_URL set to the printed app URL. Invented details
    are marked [P] in its templates; sourced ones copy the research notes exactly.
    """
    from connector.sandbox.options import SandboxOptions
    from connector.sandbox.server import serve_forever

    if list_mutations:
        _print_mutations()
        return

    options = SandboxOptions(
        variant=variant.value,
        members=members,
        seed=seed,
        members_file=members_file,
        admin_email=admin_email,
        admin_password=admin_password,
        totp_secret=totp_secret,
        mfa=mfa.value,
        sso=sso,
        session_ttl=session_ttl,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        confirm_dialog=confirm_dialog is common.OnOff.on,
        keep_deactivated=keep_deactivated,
        drop_banner=drop_banner,
        slow_write_ms=slow_write_ms,
        slow_write_mode=slow_write_mode.value,
        hide_rows=hide_rows,
        drift=drift,
        mutations=tuple(mutate),
        mutation_script=mutation_script,
        seat_limit=seat_limit,
        plan=plan,
        other_account_emails=tuple(other_account_email),
        host=host,
        app_port=port,
        login_port=login_port,
    )

    if accounts > 1:
        _serve_accounts(options, accounts, accounts_file)
        return
    serve_forever(options, _ready)


def _ready(running: RunningSandbox) -> None:
    o = running.options
    extras = (", drift" if o.drift else "") + "".join(f", {m}" for m in o.mutations)
    if o.mutation_script is not None:
        extras += f", script {o.mutation_script}"
    common.stderr.print(
        f"Stitch sandbox ({o.variant}{extras}) is up. Ctrl-C stops it.\n"
        f"  app:    {running.app_url}\n"
        f"  login:  {running.login_url}\n"
        f"  sign in as {running.login_email} / {o.admin_password}"
        + (f"  (TOTP secret {o.totp_secret})" if o.mfa == "totp" else "")
        + f"\n  try:    STITCH_BASE_URL={running.app_url} STITCH_EMAIL={running.login_email} "
        f"STITCH_PASSWORD={o.admin_password} stitch-connector members",
        highlight=False,
    )


def _serve_accounts(options: SandboxOptions, count: int, file: Path) -> None:
    """N accounts: the same options, each with its own seed, client id and free ports; an
    accounts file naming them (passwords in files beside it), until Ctrl-C."""
    import contextlib
    import threading

    from connector.sandbox.server import running_sandbox

    with contextlib.ExitStack() as stack:
        boxes = [
            stack.enter_context(
                running_sandbox(
                    options.model_copy(
                        update={
                            "seed": options.seed + i,
                            "client_id": options.client_id + i,
                            "company_name": f"{options.company_name} {i + 1}",
                            "app_port": 0,
                            "login_port": 0,
                        }
                    )
                )
            )
            for i in range(count)
        ]
        body = "# stitch-connector sandbox --accounts: local look-alikes, not Stitch.\n"
        for i, box in enumerate(boxes, start=1):
            secret = file.with_name(f"{file.stem}.account{i}.password")
            secret.write_text(box.options.admin_password, encoding="utf-8")
            secret.chmod(0o600)
            body += (
                f'\n[accounts.account{i}]\nbase_url = "{box.app_url}"\n'
                f'email = "{box.login_email}"\npassword_file = "{secret.resolve()}"\n'
            )
        file.write_text(body, encoding="utf-8")
        common.stderr.print(
            f"{count} Stitch sandbox accounts are up (Ctrl-C stops them):\n"
            + "".join(f"  account{i}: {b.app_url}\n" for i, b in enumerate(boxes, start=1))
            + f"  try:    STITCH_ACCOUNTS_FILE={file} stitch-connector sync --all",
            highlight=False,
            markup=False,
        )
        forever = threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            while not forever.wait(3600):
                pass


def _print_mutations() -> None:
    """One line per mutation: name, area, expect, what (tab-separated, for grep and cut)."""
    from connector.sandbox.mutations import MUTATIONS

    for m in MUTATIONS.values():
        typer.echo(f"{m.name}\t{m.area}\t{m.expect}\t{m.what}")
