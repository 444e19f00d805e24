"""One email rule for the OpenAPI document and the Python check; no control, escape or bidi
character in any request string; untrusted text escaped in every CLI table (issue 12)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from connector.cli.render import cell, visible
from connector.errors import UsageProblem
from connector.models import MAX_EMAIL_LENGTH, is_requested_email
from connector.offboard_queue.models import OffboardingRequest
from connector.policy import requested_emails

# Addresses where a loose rule and a strict one part ways. (address, valid)
TRICKY: list[tuple[str, bool]] = [
    ("leaver@corp.com", True),
    ("Leaver@Corp.COM", True),
    (" leaver@corp.com ", True),  # spaces around it are stripped, by both
    ("first.last+tag@corp.co.uk", True),
    ("o'brien@corp.com", True),
    ("x!#$%&*/=?^_`{|}~-y@corp.com", True),  # every atext character of RFC 5322
    ("a@xn--mller-kva.de", True),  # an internationalised domain, IDNA-encoded
    ("a@corp.xn--p1ai", True),
    ("a" * 64 + "@corp.com", True),
    ("a" * 65 + "@corp.com", False),  # local part over 64
    ("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 57 + ".com", False),  # over 254 in all
    ("a@" + "b" * 64 + ".com", False),  # a label over 63
    ("jösé@corp.com", False),  # a non-ASCII local part
    ("a@müller.de", False),  # a domain not in its IDNA form
    ("a..b@corp.com", False),  # not a dot-atom
    (".a@corp.com", False),
    ("a.@corp.com", False),
    ('"quoted"@corp.com', False),  # quoted local parts: not for an admin UI's list
    ("a@corp", False),  # no dot in the domain
    ("a@-corp.com", False),
    ("a@corp-.com", False),
    ("a@corp.c", False),
    ("a@corp.123", False),
    ("a@@corp.com", False),
    ("a b@corp.com", False),
    ("a@corp.com\n", False),  # Python's `$` would take this; the rule does not
    ("a\x00@corp.com", False),
    ("a\x1b[31m@corp.com", False),
    ("a\u202e@corp.com", False),
    ("\u200ea@corp.com", False),
    ("a@corp.com\t", False),
    ("", False),
    ("@", False),
]


def _email_schema() -> dict[str, Any]:
    schema: dict[str, Any] = OffboardingRequest.model_json_schema()["properties"]["email"]
    return schema


def _schema_says(address: str, schema: dict[str, Any]) -> bool:
    """JSON Schema's reading: `pattern` is searched (ECMA-262), `maxLength` counts characters."""
    return len(address) <= schema["maxLength"] and re.search(schema["pattern"], address) is not None


def _model_says(address: str) -> bool:
    try:
        OffboardingRequest(email=address, request_id="r", requested_by="t")
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("address", "valid"), TRICKY, ids=[repr(a)[:40] for a, _ in TRICKY])
def test_the_published_pattern_and_the_python_check_are_one_rule(address: str, valid: bool) -> None:
    schema = _email_schema()
    assert schema["maxLength"] == MAX_EMAIL_LENGTH
    assert _schema_says(address, schema) is valid
    assert _model_says(address) is valid
    assert is_requested_email(address) is valid
    if valid:
        assert requested_emails([address]) == [address.strip().lower()]
    elif address.strip(" \t\n") == address:  # the CLI strips its arguments first
        with pytest.raises(UsageProblem):
            requested_emails([address])


BAD_TEXT = {
    "nul": "left\x00",
    "esc": "left \x1b[2J\x1b[31mred",
    "bell": "left\x07",
    "newline": "left\nforged: line",
    "del": "left\x7f",
    "c1": "left\x9b31m",
    "rlo": "left \u202ecod.exe",
    "lri": "left\u2066x\u2069",
    "lrm": "left\u200e",
    "rlm": "left\u200f",
}


@pytest.mark.parametrize("field", ["reason", "requested_by", "request_id"])
@pytest.mark.parametrize("kind", list(BAD_TEXT))
def test_every_request_string_refuses_control_escape_and_bidi(field: str, kind: str) -> None:
    body = {"email": "a@corp.com", "request_id": "r1", "requested_by": "hr", field: BAD_TEXT[kind]}
    with pytest.raises(ValidationError, match="control, escape or bidirectional"):
        OffboardingRequest.model_validate(body)


def test_a_callback_url_with_an_escape_is_refused() -> None:
    with pytest.raises(ValidationError, match="control, escape or bidirectional"):
        OffboardingRequest(
            email="a@corp.com",
            request_id="r1",
            requested_by="hr",
            callback_url="https://hooks.example.com/\x1b[2J",  # type: ignore[arg-type]
        )


def test_ordinary_text_passes() -> None:
    ok = OffboardingRequest(
        email="a@corp.com", request_id="HR-1", requested_by="Zoë Ø", reason="left — ✓ 日本"
    )
    assert ok.reason == "left — ✓ 日本"


def test_tables_show_control_characters_instead_of_obeying_them() -> None:
    assert visible("a\x1b[31mb\x00c\u202ed\u200e") == "a\\x1b[31mb\\x00c\\u202ed\\u200e"
    assert visible("plain — ✓") == "plain — ✓"
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=200).print(cell("x\x1b[2J[bold]y[/bold]"))
    assert out.getvalue() == "x\\x1b[2J[bold]y[/bold]\n"


def test_audit_show_escapes_an_escape_sequence_in_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from connector.audit import AuditLog
    from connector.cli.app import app

    state = tmp_path / "state"
    now = datetime.now(UTC)
    AuditLog(state / "audit.jsonl").append(
        run_id="r1",
        request_id=None,
        actor="api:\x1b]0;pwned\x07hr",
        target="a@corp.com",
        action=None,
        outcome="refused",
        rule=None,
        reason="\x1b[2J\x1b[31mall clear\x1b[0m \u202eevil",
        started_at=now,
        finished_at=now,
        connector_version="test",
        row_before=None,
        roster_fingerprint_before=None,
        roster_fingerprint_after=None,
        evidence=[],
    )
    for name in [n for n in os.environ if n.startswith("STITCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("STITCH_STATE_DIR", str(state))
    monkeypatch.setenv("COLUMNS", "400")
    shown = CliRunner().invoke(app, ["audit", "show"])
    assert shown.exit_code == 0, shown.output
    assert (
        "\x1b" not in shown.output and "\u202e" not in shown.output and "\x07" not in shown.output
    )
    assert "\\x1b[2J\\x1b[31mall clear\\x1b[0m \\u202eevil" in shown.output
    assert "api:\\x1b]0;pwned\\x07hr" in shown.output
