"""`stitch-connector reconcile`: compare the Stitch roster with the identity provider."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connector import reconcile as rec
from connector.app import App
from connector.cli import common, render
from connector.cli.render import cell
from connector.idp import IdpFormat, load_idp
from connector.models import MemberList
from connector.settings import Settings


def reconcile(
    idp: Path = typer.Option(
        ..., "--idp", help="The IdP's users: an Okta user export, an email,status CSV, or JSON."
    ),
    fmt: IdpFormat = typer.Option(
        IdpFormat.AUTO, "--format", help="auto: from the file's extension and header."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Read Stitch now instead of using the latest snapshot."
    ),
    plan_file: Path | None = typer.Option(
        None,
        "--plan",
        help="Write the orphans, joiners and role drift as a plan for `stitch-connector apply`.",
    ),
    assigned: str | None = typer.Option(
        None,
        "--assigned",
        metavar="NAME",
        help="Who should have Stitch: the IdP file's column or field of that name (yes/true), "
        "or the group of that name in its groups column or list. Lists joiners.",
    ),
    allow_administrator: bool = typer.Option(
        False, "--allow-administrator", help="Let the plan invite or promote Administrators."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ReconcileReport as JSON."),
    company_domain: list[str] = typer.Option(
        [],
        "--company-domain",
        metavar="DOMAIN",
        help="The company's email domain; repeat for several. Default: the IdP file's domains.",
    ),
) -> None:
    """Classify every Stitch member against the identity provider: ok, orphan (should be
    removed), protected, pending_invite, unmatched_domain (review), deactivated. With
    --assigned, also the joiners (assigned in the IdP, no Stitch access); where the file
    carries a `role` (or `Stitch role`) column, the role drift.

    It reads the latest snapshot (`stitch-connector sync`), or Stitch itself with --fresh.
    Exit 0 whenever the report was made, orphans or not: the report carries them. Example:

      stitch-connector reconcile --idp okta.csv --assigned stitch --plan plan.json
    """
    common.check_writable(plan_file)
    domains = rec.company_domains(company_domain)
    directory = load_idp(idp, fmt, assigned=assigned)  # a bad file fails before any browser
    settings = common.settings_from()
    roster, snapshot_id = (_fresh_roster(settings), None) if fresh else _snapshot(settings)
    config = settings.policy()
    # What apply will decide on: the plan never lists a target apply would refuse.
    history = App(settings).planning_history()
    report = rec.reconcile(
        roster,
        directory,
        config,
        domains=domains,
        source="fresh" if fresh else "snapshot",
        snapshot_id=snapshot_id,
        history=history,
    )
    if plan_file is not None:
        made = rec.plan_for(
            report,
            roster,
            config,
            base_url=settings.base_url,
            history=history,
            allow_administrator=allow_administrator,
        )
        common.write_output(made.model_dump_json(indent=2) + "\n", plan_file)
        common.stderr.print(f"plan: {len(made.targets)} target(s)", highlight=False)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        print_report(report, render.stdout_console())


def _fresh_roster(settings: Settings) -> MemberList:
    from connector.cli.members import scrape  # StitchConnector.list_members, the one read path

    common.require_credentials_unless_saved(settings)
    return scrape(settings, progress=True)


def _snapshot(settings: Settings) -> tuple[MemberList, int | None]:
    """The latest stored roster, and its snapshot id."""
    return App(settings).latest_snapshot()


def print_report(report: rec.ReconcileReport, console: Console) -> None:
    """Counts per classification, then every member that is not ok, grouped by class."""
    source = report.source
    kind = f"snapshot {source.snapshot_id}" if source.snapshot_id else source.kind
    idp = report.idp
    where = "--company-domain" if report.domains_from == "flag" else "from the IdP"
    console.print(
        f"Account {report.account.client_id}: {source.count} members ({kind}, read "
        f"{source.scraped_at:%Y-%m-%d %H:%M} UTC)\n"
        f"IdP: {cell(idp.path)} ({idp.format.value}, {idp.users} users, {idp.active} active)\n"
        f"Company domains ({where}): {cell(', '.join(report.company_domains))}",
        highlight=False,
    )
    counts = Table("Classification", "Members")
    for name, count in report.counts.items():
        counts.add_row(name, str(count))
    console.print(counts)
    order: list[rec.Classification] = [
        c for c in rec.Classification if c is not rec.Classification.OK
    ]
    rows = sorted(
        (r for r in report.rows if r.classification is not rec.Classification.OK),
        key=lambda r: order.index(r.classification),
    )
    if not rows:
        console.print("Every member is active in the IdP.", highlight=False)
        _print_grants(report, console)
        return
    table = Table("Classification", "Email", "Details")
    table.columns[1].overflow = "fold"
    for r in rows:
        table.add_row(r.classification.value, cell(r.email), cell(_details(r)))
    console.print(table)
    _print_grants(report, console)
    if report.orphans:
        console.print(
            f"{len(report.orphans)} orphan(s). To remove them: reconcile again with --plan FILE, "
            "review FILE, then `stitch-connector apply FILE`.",
            highlight=False,
        )


def _print_grants(report: rec.ReconcileReport, console: Console) -> None:
    """Joiners and role drift: what a plan would grant."""
    if not report.joiners and not report.role_drift:
        return
    table = Table("Change", "Email", "Details")
    table.columns[1].overflow = "fold"
    for j in report.joiners:
        what = "reactivate" if j.stitch_status else "joiner"
        role = j.role.value if j.role else "General User"
        table.add_row(what, cell(j.email), cell(f"IdP: {j.idp_status} · as {role}"))
    for d in report.role_drift:
        detail = f"Stitch: {d.stitch_role.value} · IdP: {d.idp_role.value}"
        table.add_row("role drift", cell(d.email), cell(detail))
    console.print(table)
    console.print(
        f"{len(report.joiners)} joiner(s), {len(report.role_drift)} role change(s): --plan FILE "
        "lists them (within STITCH_INVITE_DOMAINS; Administrators with --allow-administrator).",
        highlight=False,
    )


def _details(row: rec.ReconcileRow) -> str:
    parts = [row.name or "(no name)", row.role.value, f"Stitch: {row.stitch_status.value}"]
    parts.append(f"IdP: {row.idp_status}" if row.idp_status else "not in the IdP")
    if row.rule:
        parts.append(f"rule: {row.rule}")
    if row.alias_of is not None:
        base = row.alias_of
        where = f"IdP: {base.idp_status}" if base.in_idp else "not in the IdP"
        parts.append(f"alias of {base.email} ({where})")
    return " · ".join(parts)
