"""A job as callers see it (the API's answer, the callback's body): links, no secrets, no
host paths."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from connector.offboard_queue.models import Job


def redact_url(url: str) -> str:
    """A callback URL as readers see it: origin and path only. Its query, fragment and any
    user name or password (they may carry the receiver's own token) are never shown."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{port}{parts.path}"


def job_body(job: Job, runs_dir: Path, *, prefix: str = "") -> dict[str, object]:
    """The public form of a job: what the API returns and what callbacks carry. A callback
    URL shows only its origin and path (redact_url). `prefix`: the account's mount, before
    every link (serve for several accounts)."""
    hidden = {"not_before"} if job.not_before is None else set()
    if job.callback_next_at is None:
        hidden.add("callback_next_at")
    body = job.model_dump(mode="json", exclude=hidden or None)
    if isinstance(body.get("outcome"), dict):
        # The state dir's place on the host is nobody's business: paths relative to it.
        body["outcome"]["evidence"] = _relative_evidence(job, runs_dir.parent)
    if job.callback_url:
        body["callback_url"] = redact_url(job.callback_url)
    return {**body, "links": job_links(job, runs_dir, prefix=prefix)}


def _relative_evidence(job: Job, state_dir: Path) -> list[str]:
    shown = []
    for name in job.outcome.evidence if job.outcome else []:
        try:
            shown.append(Path(name).relative_to(state_dir).as_posix())
        except ValueError:  # outside the state dir: its name only
            shown.append(Path(name).name)
    return shown


def job_links(job: Job, runs_dir: Path, *, prefix: str = "") -> dict[str, object]:
    """Where the caller finds the job and its evidence files (served by the API)."""
    evidence = []
    for name in job.outcome.evidence if job.outcome else []:
        try:
            evidence.append(f"{prefix}/v1/evidence/" + Path(name).relative_to(runs_dir).as_posix())
        except ValueError:  # not under runs/: not served
            continue
    links: dict[str, object] = {"self": f"{prefix}/v1/offboardings/{job.id}", "evidence": evidence}
    if job.approval_id:
        links["approval"] = f"{prefix}/v1/approvals/{job.approval_id}"
    return links
