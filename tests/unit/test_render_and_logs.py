"""CSV escapes formulas; the log redactor masks secrets wherever they appear."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from connector import logs
from connector.cli.render import csv_safe, to_csv, to_json
from connector.models import Account, Member, MemberList, Role, Status


def roster(*names: str) -> MemberList:
    return MemberList(
        account=Account(client_id=116078, company_name="Stitch - Doc Testing"),
        members=[
            Member(email=f"u{i}@example.com", name=n, role=Role.GENERAL_USER, status=Status.ACTIVE)
            for i, n in enumerate(names)
        ],
        scraped_at=datetime(2026, 11, 28, tzinfo=UTC),
        pages=1,
        source_url="http://x",
        selectors_version="t",
    )


def test_csv_neutralises_formula_cells() -> None:
    text = to_csv(roster('=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)", "Plain"))
    names = [r["name"] for r in csv.DictReader(io.StringIO(text))]
    assert names == ['\'=HYPERLINK("http://evil")', "'+1", "'-2", "'@SUM(A1)", "Plain"]
    assert csv_safe("a=b") == "a=b"


def test_json_is_the_member_list_model_with_fingerprint() -> None:
    data = json.loads(to_json(roster("Ana")))
    assert data["members"][0]["email"] == "u0@example.com"
    assert data["fingerprint"].startswith("sha256:")
    assert MemberList.model_validate(data).fingerprint == data["fingerprint"]


def test_fingerprint_ignores_order_and_time_but_not_content() -> None:
    a, b = roster("Ana", "Bo"), roster("Ana", "Bo")
    swapped = b.model_copy(
        update={
            "members": list(reversed(b.members)),
            "scraped_at": datetime(2027, 1, 1, tzinfo=UTC),
        }
    )
    assert a.fingerprint == swapped.fingerprint
    assert a.fingerprint != roster("Ana", "Bob").fingerprint


def test_redactor_masks_registered_secrets_and_secret_keys() -> None:
    out = io.StringIO()
    logs.register_secrets("hunter2-secret", "JBSWY3DPEHPK3PXP")
    logs.configure(run_id="r1", level="debug", stream=out, json=True)
    log = logs.get_logger("t")
    log.info("event with hunter2-secret inside", detail={"nested": ["x JBSWY3DPEHPK3PXP y"]})
    log.info("keys", password="anything", cookie="c", totp_secret="s")
    text = out.getvalue()
    assert "hunter2-secret" not in text and "JBSWY3DPEHPK3PXP" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["run_id"] == "r1" and "***" in first["event"]
    assert second["password"] == second["cookie"] == second["totp_secret"] == "***"
