"""`stitch-connector record`: save the pages the connector reads as scrubbed fixtures."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from connector.app import App, RunOptions
from connector.cli import common
from connector.errors import ConfigError
from connector.logs import new_run_id
from connector.models import MemberList, Progress

if TYPE_CHECKING:
    from connector.recorder import Recorder, Scrubber


def record(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the fixtures into."),
    scrub_key_file: Path | None = typer.Option(
        None,
        help="A file holding the HMAC key for scrubbing. The same key maps the same email to the "
        "same fake in every recording. Default: a random key, used once.",
    ),
    no_scrub: bool = typer.Option(
        False, "--no-scrub", help="Keep real emails and names (synthetic data only, e.g. sandbox)."
    ),
    base_url: str | None = typer.Option(None, help="Stitch's origin [env: STITCH_BASE_URL]."),
    email: str | None = typer.Option(None, help="Administrator email [env: STITCH_EMAIL]."),
    state_dir: Path | None = typer.Option(None, help="State folder [env: STITCH_STATE_DIR]."),
    compare: Path | None = typer.Option(
        None,
        help="Committed fixtures to compare with (e.g. fixtures/current/single): prints a "
        "structural diff of each page, so a UI change shows up as a reviewable diff.",
    ),
) -> None:
    """Sign in and save every page the connector reads (sign-in steps, each member page) as static
    HTML, with the expected extraction as JSON beside each one.

    Scripts are stripped, origins replaced by placeholders, one-time values blanked, and every
    email and name the pages show replaced by a keyed-HMAC fake. Signing in from a saved session
    records no sign-in pages: delete session.json in the state folder to record them too.
    Real Stitch can only be recorded by someone with an account.
    """
    from connector.recorder import Recorder, Scrubber

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    key = _scrub_key(scrub_key_file)
    settings = common.settings_from(base_url=base_url, email=email, state_dir=state_dir)
    common.require_credentials_unless_saved(settings)
    run_id = new_run_id()
    common.start_logging(run_id)
    recorder = Recorder(settings.base_url)
    rows_after_page: dict[int, int] = {}

    def progress(event: Progress) -> None:
        if event.step == "page" and event.page is not None:
            rows_after_page[event.page] = event.rows or 0

    run = RunOptions(run_id=run_id, command=common.command_line(), on_progress=progress)
    roster = common.run(lambda: App(settings).members(run, observer=recorder))
    scrubber = None if no_scrub else Scrubber(key)
    if scrubber is not None:
        scrubber.account(roster.account.client_id)
    expected = _expected(recorder, roster, rows_after_page, settings.email, scrubber)
    written = recorder.write(out, expected, scrubber)
    common.stderr.print(f"wrote {len(written)} files to {out}", highlight=False)
    if compare is not None:
        _print_structural_diff(out, compare)


def _print_structural_diff(recorded: Path, committed: Path) -> None:
    from connector.recorder import structural_diff

    if not committed.is_dir():
        raise ConfigError(f"--compare {committed} is not a folder of fixtures")
    for page in sorted(recorded.glob("*.html")):
        before = committed / page.name
        if not before.is_file():
            print(f"new page (no committed fixture): {page.stem}")
            continue
        diff = structural_diff(
            before.read_text(encoding="utf-8"), page.read_text(encoding="utf-8"), page.stem
        )
        print("\n".join(diff) if diff else f"no structural change: {page.stem}")


def _scrub_key(path: Path | None) -> bytes:
    if path is None:
        return secrets.token_bytes(32)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read --scrub-key-file {path}: {exc.strerror or exc}") from None
    if len(key) < 16:
        raise ConfigError(f"--scrub-key-file {path} holds fewer than 16 bytes")
    return key


def _expected(
    recorder: Recorder,
    roster: MemberList,
    rows_after_page: dict[int, int],
    login_email: str | None,
    scrubber: Scrubber | None,
) -> dict[str, dict[str, Any]]:
    """The connector's own reading, page by page, for a human to review before committing."""
    members = [scrubber.member(m) if scrubber else m for m in roster.members]
    login = scrubber.email(login_email) if scrubber and login_email else login_email
    expected: dict[str, dict[str, Any]] = {}
    start = 0
    for page in sorted(rows_after_page):
        chunk = members[start : rows_after_page[page]]
        start = rows_after_page[page]
        expected[f"members-p{page}"] = {
            "kind": "members",
            "login_email": login,
            "page": {"members": [m.model_dump(mode="json") for m in chunk]},
        }
    for snap in recorder.snapshots:
        if snap.label.startswith("signin-"):
            expected[snap.label] = {"kind": "signin", "state": snap.label.removeprefix("signin-")}
    return expected
