"""The approval webhook: a signed POST when a request starts waiting and when it is decided.

The body is a Slack-style incoming-webhook message (`text`, and `blocks` of mrkdwn) that a chat
tool renders as it is, plus `approval`: the event for machines (id, event, status, rules, who
asked and decided, the writes). Scraped names are untrusted: they are shown escaped, never as
markup (no @channel, no links). It is signed like the job callbacks (X-Stitch-Signature over
timestamp, delivery and body, STITCH_CALLBACK_SECRET), goes only to a host
STITCH_CALLBACK_HOSTS allows, and waits in a durable outbox (`approval_events`) until it is
delivered: the service retries with backoff for a day; a CLI command makes one attempt.
"""

from __future__ import annotations

import json
import random
import ssl
from datetime import UTC, datetime, timedelta

import httpx

from connector.approvals.models import Approval
from connector.approvals.store import ApprovalStore
from connector.database import to_text, transaction
from connector.logs import get_logger
from connector.offboard_queue.addresses import AllowList
from connector.offboard_queue.callbacks import Refused, post_signed
from connector.offboard_queue.public import redact_url
from connector.settings import Settings

log = get_logger(__name__)

_GIVE_UP = timedelta(days=1)
_MAX_WAIT_S = 3600.0


class Notifications:
    def __init__(self, settings: Settings, store: ApprovalStore) -> None:
        self.settings = settings
        self._db = store.database  # one database: the event is written with the state it tells

    @property
    def enabled(self) -> bool:
        return bool(self.settings.approval_webhook_url and self.settings.callback_secret)

    def add(self, approval: Approval, event: str) -> None:
        """Queue one event (nothing when no webhook is set)."""
        if not self.enabled:
            return
        now = to_text(datetime.now(UTC))
        body = json.dumps(message(approval, event), ensure_ascii=False, separators=(",", ":"))
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "INSERT INTO approval_events (approval_id, event, body, status, next_at,"
                " created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                (approval.id, event, body, now, now),
            )

    async def deliver_due(self, *, timeout_s: float = 10.0) -> int:
        """One attempt for each due event; returns how many were delivered."""
        if not self.enabled:
            return 0
        url = self.settings.approval_webhook_url
        secret = self.settings.callback_secret
        assert url is not None and secret is not None
        now = datetime.now(UTC)
        with self._db.connect() as db:
            due = db.execute(
                "SELECT id, approval_id, event, body, attempts, created_at FROM approval_events"
                " WHERE status = 'pending' AND next_at <= ? ORDER BY id",
                (to_text(now),),
            ).fetchall()
        allow = AllowList.parse(self.settings.callback_hosts)
        tls = ssl.create_default_context()  # one per pass: building it loads the CA bundle
        delivered = 0
        for event_id, approval_id, event, body, attempts, created in due:
            try:
                status = await post_signed(
                    url,
                    str(body).encode("utf-8"),
                    delivery=f"{approval_id}.{event}",
                    secret=secret,
                    allow=allow,
                    tls=tls,
                    timeout_s=timeout_s,
                )
                error = None if 200 <= status < 300 else f"the receiver answered HTTP {status}"
            except Refused as exc:
                self._done(int(event_id), "refused", int(attempts), str(exc))
                log.warning("approval.webhook_refused", to=redact_url(url), reason=str(exc))
                continue
            except (httpx.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}".replace(url, "<webhook>")
            if error is None:
                self._done(int(event_id), "delivered", int(attempts) + 1, None)
                delivered += 1
                continue
            self._retry(int(event_id), int(attempts) + 1, str(created), error)
        return delivered

    def _done(self, event_id: int, status: str, attempts: int, error: str | None) -> None:
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE approval_events SET status = ?, attempts = ?, error = ? WHERE id = ?",
                (status, attempts, error, event_id),
            )

    def _retry(self, event_id: int, attempts: int, created: str, error: str) -> None:
        wait = min(_MAX_WAIT_S, 2.0**attempts) * random.uniform(0.5, 1.0)  # noqa: S311
        later = datetime.now(UTC) + timedelta(seconds=wait)
        if later > datetime.fromisoformat(created) + _GIVE_UP:
            self._done(event_id, "gave_up", attempts, error)
            return
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE approval_events SET attempts = ?, error = ?, next_at = ? WHERE id = ?",
                (attempts, error, to_text(later), event_id),
            )

    def events(self, approval_id: str) -> list[dict[str, object]]:
        """Each event of one request and how its delivery stands (for `approvals show`)."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT event, status, attempts, error, created_at FROM approval_events"
                " WHERE approval_id = ? ORDER BY id",
                (approval_id,),
            ).fetchall()
        keys = ("event", "status", "attempts", "error", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def message(approval: Approval, event: str) -> dict[str, object]:
    """The webhook body: Slack-style text and blocks, and the event for machines."""
    writes = [
        f"{t.action.value if t.action else 'nothing'} {_plain(t.email)}"
        + (f" as {t.granted_role.value}" if t.granted_role else "")
        for t in approval.plan.targets
    ]
    head = {
        "requested": "Stitch change waits for approval",
        "approved": "Stitch change approved",
        "rejected": "Stitch change rejected",
        "expired": "Stitch change expired unapproved",
        "executed": "Stitch change carried out",
        "stale": "Stitch roster changed: approval asked again",
        "refused": "Stitch change refused after approval",
    }.get(event, f"Stitch approval {event}")
    lines = [
        f"*{head}* `{approval.id}`",
        "• " + "\n• ".join(writes),
        f"Rules: {_plain(', '.join(approval.rules))}. Asked by {_plain(approval.requested_by)}.",
    ]
    if approval.decided_by:
        lines.append(f"Decided by {_plain(approval.decided_by)}: {_plain(approval.note or '')}")
    if event == "requested":
        expires = f"{approval.expires_at:%Y-%m-%d %H:%M} UTC"
        lines.append(
            f"Approve: `stitch-connector approvals approve {approval.id}` or "
            f"POST /v1/approvals/{approval.id}/approve (expires {expires})"
        )
    text = "\n".join(lines)
    return {
        "text": text,
        # verbatim: Slack shows the text as sent: no auto-linked URLs, @mentions or #channels.
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}],
        "approval": {
            "id": approval.id,
            "event": event,
            "status": approval.status.value,
            "rules": approval.rules,
            "requested_by": approval.requested_by,
            "decided_by": approval.decided_by,
            "note": approval.note,
            "expires_at": approval.expires_at.isoformat(),
            "writes": [
                {"email": t.email, "action": t.action.value if t.action else None}
                for t in approval.plan.targets
            ],
            "superseded_by": approval.superseded_by,
        },
    }


def _plain(text: str) -> str:
    """Untrusted text shown as text in Slack mrkdwn: its three control characters escaped,
    and no line breaks or backticks to break out of the layout."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).replace("`", "'")
    return cleaned.translate(_MRKDWN)


_MRKDWN = str.maketrans({"&": "&amp;", "\x3c": "&lt;", "\x3e": "&gt;"})  # & < >
