"""Record the pages the connector reads as static HTML fixtures, with the expected extraction.

The recorder is an observer: the connector calls it with each page just before reading it (sign-in
steps before anything is typed, member pages once settled). The snapshot is the rendered DOM with
scripts removed, origins replaced by fixed placeholders, and one-time values blanked, so a replay
needs no server and a re-recording of the same data gives the same bytes.

Scrubbing replaces every email and name the page shows with a keyed-HMAC fake: the same input
always maps to the same fake, and the mapping cannot be reversed without the key.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from connector.artifacts import blank_one_time_values
from connector.logs import redact_text
from connector.models import Member

APP_ORIGIN = "https://app.stitch.test"
LOGIN_ORIGIN = "https://login.stitch.test"

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_ON_ATTR = re.compile(r"""\s+on[a-z]+\s*=\s*("[^"]*"|'[^']*')""", re.I)


# page.content() serialises attributes, not live form state: a <select> whose choice was set by
# script would replay as its first option. Copy the choices into attributes first. Text inputs
# are left alone on purpose: their live values are never written into a fixture.
_FREEZE_FORM_STATE = """() => {
  for (const o of document.querySelectorAll("option")) o.toggleAttribute("selected", o.selected);
  for (const c of document.querySelectorAll("input[type=checkbox], input[type=radio]"))
    c.toggleAttribute("checked", c.checked);
}"""


def clean_html(raw: str, origins: dict[str, str]) -> str:
    text = _SCRIPT.sub("", raw)
    text = _ON_ATTR.sub("", text)
    text = blank_one_time_values(text)
    for real, placeholder in origins.items():
        text = text.replace(real, placeholder)
        text = text.replace(html.escape(real, quote=True), placeholder)
    return redact_text(text)


@dataclass
class Scrubber:
    """Consistent, keyed replacement of emails, names and ids (the account's, the members')."""

    key: bytes
    emails: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    account_ids: dict[int, int] = field(default_factory=dict)

    def account(self, client_id: int) -> int:
        """A fake client id with the same number of digits (the URL patterns expect digits)."""
        digits = len(str(client_id))
        fake = 10 ** (digits - 1) + int(self._tag("account", str(client_id)), 16) % (
            9 * 10 ** (digits - 1)
        )
        return self.account_ids.setdefault(client_id, fake)

    def _tag(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:10]

    def email(self, value: str) -> str:
        return self.emails.setdefault(
            value, f"user-{self._tag('email', value.lower())}@example.com"
        )

    def name(self, value: str) -> str:
        return self.names.setdefault(value, f"Person {self._tag('name', value)}")

    def member(self, m: Member) -> Member:
        return m.model_copy(
            update={"email": self.email(m.email), "name": self.name(m.name) if m.name else None}
        )

    def apply(self, text: str) -> str:
        # Member ids, wherever the page shows them (data attributes, element ids).
        for member_id in set(_MEMBER_ID.findall(text)):
            text = text.replace(member_id, f"m-{self._tag('member', member_id)[:8]}")
        for real_id, fake_id in self.account_ids.items():
            text = re.sub(rf"(?<!\d){real_id}(?!\d)", str(fake_id), text)
        pairs = [(e, f, re.I) for e, f in self.emails.items()]
        pairs += [(n, f, re.NOFLAG) for n, f in self.names.items()]
        for real, fake, flags in sorted(pairs, key=lambda p: len(p[0]), reverse=True):
            for form in {real, html.escape(real, quote=False), html.escape(real, quote=True)}:
                # Not inside a longer word: a short name like "Al" must not rewrite "alert".
                pattern = rf"(?<![\w@.-]){re.escape(form)}(?![\w@-])"
                text = re.sub(pattern, fake.replace("\\", "\\\\"), text, flags=flags)
        return text


_MEMBER_ID = re.compile(r'(?<=data-member-id=")[^"]+')


@dataclass
class Snapshot:
    label: str
    html: str


class Recorder:
    """Collects one snapshot per page the connector reads."""

    def __init__(self, app_url: str, login_url: str | None = None) -> None:
        self.origins = {app_url.rstrip("/"): APP_ORIGIN}
        if login_url:
            self.origins[login_url.rstrip("/")] = LOGIN_ORIGIN
        self.snapshots: list[Snapshot] = []

    async def __call__(self, label: str, page: Page) -> None:
        await page.evaluate(_FREEZE_FORM_STATE)
        snapshot = Snapshot(label, clean_html(await page.content(), self.origins))
        # A page read twice (a reload, a second sign-in) keeps its latest rendering.
        self.snapshots = [s for s in self.snapshots if s.label != label] + [snapshot]

    def write(
        self,
        out_dir: Path,
        expected: dict[str, dict[str, Any]],
        scrubber: Scrubber | None = None,
    ) -> list[Path]:
        """Write `<label>.html` and `<label>.json` (the expected extraction) for each snapshot."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for snap in self.snapshots:
            page_html = scrubber.apply(snap.html) if scrubber else snap.html
            html_path = out_dir / f"{snap.label}.html"
            html_path.write_text(page_html, encoding="utf-8")
            json_path = out_dir / f"{snap.label}.json"
            json_path.write_text(
                json.dumps(expected[snap.label], indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
            written += [html_path, json_path]
        return written


@dataclass
class _Node:
    head: str
    children: list[_Node] = field(default_factory=list)

    def lines(self, depth: int = 0) -> list[str]:
        """Siblings with a shape already shown (more table rows) are left out, so the diff of
        two recordings shows structure, not how many members each had."""
        out = [f"{'  ' * depth}{self.head}"]
        seen: list[list[str]] = []
        repeated = False
        for child in self.children:
            mine = child.lines(depth + 1)
            if mine in seen:
                repeated = True
                continue
            seen.append(mine)
            out.extend(mine)
        if repeated:
            out.append(f"{'  ' * (depth + 1)}… (and more of the shapes above)")
        return out


class _Skeleton(HTMLParser):
    """The element tree with tag, id, classes, role and name attributes; no text, no data."""

    _KEEP = ("id", "class", "role", "name", "type", "aria-label", "aria-haspopup", "for")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("<document>")
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kept = " ".join(
            f'{k}="{_DATA_ID.sub("…", " ".join(sorted((v or "").split())))}"'
            for k, v in sorted(attrs)
            if k in self._KEEP and not (k == "aria-label" and v and "@" in v)
        )
        node = _Node(f"<{tag}{' ' + kept if kept else ''}>")
        self._stack[-1].children.append(node)
        if tag not in _VOID:
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and len(self._stack) > 1:
            self._stack.pop()


_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
# Per-member ids ("st-t-member-email-m-1a2b"): data, not structure.
_DATA_ID = re.compile(r"(?<=-)(?=[0-9a-z_]*\d)[0-9a-z_]{3,}(?=$|\s)")


def skeleton(page_html: str) -> list[str]:
    """The page's structure, for a reviewable diff."""
    parser = _Skeleton()
    parser.feed(page_html)
    return parser.root.lines()[1:]


def structural_diff(committed: str, recorded: str, label: str) -> list[str]:
    """A unified diff of two pages' structure; empty when only text and data differ."""
    return list(
        difflib.unified_diff(
            skeleton(committed),
            skeleton(recorded),
            fromfile=f"committed/{label}.html",
            tofile=f"recorded/{label}.html",
            lineterm="",
        )
    )
