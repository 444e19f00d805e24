"""The `stitch-connector` command. Thin: parse input, call the facade, render, map errors to exits.

Imports of Playwright and the sandbox happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

import typer

try:  # recent typer vendors click as typer._click; older ones use click itself
    from typer._click import exceptions as cli_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cli_errors  # type: ignore[no-redef]

from connector.cli import (
    approvals,
    audit,
    common,
    debug,
    demo,
    doctor,
    lifecycle,
    login,
    members,
    reconcile,
    record,
    sandbox,
    serve,
    writes,
)
from connector.cli import sync as sync_cli
from connector.errors import ConnectorError, ExitCode
from connector.logs import redact_text

app = typer.Typer(
    name="stitch-connector",
    help=(
        "See and remove who has access to a Stitch account, by driving Stitch's admin web UI "
        "(Stitch has no user API and no SCIM).\n\n"
        "Start with `stitch-connector demo`: it runs everything against a local Stitch look-alike. "
        "Point it at real Stitch with STITCH_EMAIL and STITCH_PASSWORD (see README). "
        "Exit codes: 0 ok, 2 usage, 3 configuration, 4 sign-in rejected, 5 needs a human "
        "(SSO/MFA), 6 session expired, 7 page not recognised (UI drift), 8 Stitch kept failing, "
        "9 refused by policy, 10 another write run holds the lock, 11 stale plan, "
        "12 a removal failed, 13 outcome unknown (check by hand), 14 audit trail broken, "
        "15 confidence gate (a sync lost too much of the roster: likely UI drift), "
        "16 a request id reused for a different request, 17 never a member (a typo?), "
        "18 held for a second person's approval, 19 an approval decision not allowed."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global(
    log_level: common.LogLevel | None = typer.Option(
        None,
        "--log-level",
        help="debug, info, warning or error. Default: info when stderr is not a terminal "
        "(cron, containers), warning otherwise.",
        show_default=False,
    ),
    headed: bool = typer.Option(
        False, "--headed", help="Show the browser (on a server: run under xvfb-run)."
    ),
    slow_mo: int | None = typer.Option(
        None, "--slow-mo", metavar="MS", help="Pause MS milliseconds before each browser action."
    ),
    devtools: bool = typer.Option(False, "--devtools", help="Open Chromium's DevTools (headed)."),
    trace: common.TraceChoice | None = typer.Option(
        None,
        "--trace",
        help="Record a Playwright trace under runs/<run-id>/ (never during sign-in). Default: "
        "for commands that write, from the first row lookup, kept if the run fails; off for "
        "reads. Open it with show-trace.",
        show_default=False,
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        metavar="NAME",
        help="Which account of STITCH_ACCOUNTS_FILE (default: $STITCH_ACCOUNT, or the only "
        "one). Each has its own state dir, lock, audit trail and policy.",
    ),
    step: bool = typer.Option(
        False,
        "--step",
        help="Pause before every click that changes something: Enter does it, s skips, q quits "
        "(skips and quits are recorded in the audit trail).",
    ),
) -> None:
    common.state.step = step
    common.state.account = account
    common.state.log_level = log_level.value if log_level else None
    common.state.headed = headed
    common.state.slow_mo_ms = slow_mo
    common.state.devtools = devtools
    common.state.trace = trace.value if trace else None


app.command("members")(members.members)
app.command("demo")(demo.demo)
app.command("sandbox")(sandbox.sandbox)
app.command("record")(record.record)
app.command("plan")(writes.plan)
app.command("apply")(writes.apply)
app.command("deactivate")(writes.deactivate)
app.command("invite")(lifecycle.invite)
app.command("set-role")(lifecycle.set_role)
app.command("reactivate")(lifecycle.reactivate)
app.command("resend")(lifecycle.resend)
app.command("reconcile")(reconcile.reconcile)
app.add_typer(audit.app, name="audit")
app.add_typer(approvals.app, name="approvals")
app.command("show-trace")(debug.show_trace)
app.command("login")(login.login)
app.command("doctor")(doctor.doctor)
app.command("sync")(sync_cli.sync)
app.command("history")(sync_cli.history)
app.command("diff")(sync_cli.diff_command)
app.command("serve")(serve.serve)


def _fail(message: str, hint: str, code: int) -> NoReturn:
    message = " ".join(redact_text(message).split())  # one line, and never a secret
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    raise SystemExit(code)


def main() -> None:
    # Everything this process creates is its user's alone (0600 files, 0700 dirs): the audit
    # trail, traces, screenshots and page HTML, undo records, runs/, the service's database.
    # Files meant for others (a metrics file) must be opened up explicitly.
    os.umask(0o077)
    try:
        # The name help and hints show, however it was started (the console, -m, a test).
        result = app(standalone_mode=False, prog_name="stitch-connector")
    except cli_errors.NoArgsIsHelpError as exc:  # plain `stitch-connector`
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE) from None
    except cli_errors.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "stitch-connector"
        message = exc.format_message().replace("Value error, ", "")
        _fail(message, f"see '{command} --help'", ExitCode.USAGE)
    except typer.Abort:
        _fail("interrupted", "", 130)
    except KeyboardInterrupt:
        _fail("interrupted", "", 130)
    except ConnectorError as exc:
        for path in exc.artifacts:
            print(f"saved: {path}", file=sys.stderr)
        _fail(str(exc), exc.hint, exc.exit_code)
    except Exception as exc:  # a bug: say so in one line; the traceback is for --log-level debug
        if common.state.log_level == "debug":
            traceback.print_exc()
        _fail(
            f"internal error ({type(exc).__name__}): {exc}",
            "This is a bug. Run again with --log-level debug and report the output.",
            ExitCode.INTERNAL,
        )
    raise SystemExit(result if isinstance(result, int) else 0)
