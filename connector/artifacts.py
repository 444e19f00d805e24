"""Evidence files for one run, under <state_dir>/runs/<run-id>/.

Captured HTML passes through the same redactor as the logs, so a secret that somehow reached the
DOM is masked before it reaches disk. Password inputs never serialise their typed value.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page

from connector.logs import get_logger, redact_text

log = get_logger(__name__)
_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
# Hidden one-time values (sign-in state, codes, CSRF): they prove a step passed, so never saved.
_ONE_TIME = re.compile(r'(<input\b[^>]*\bname="(?:state|code|csrf[^"]*)"[^>]*\bvalue=")[^"]*(")')


def blank_one_time_values(page_html: str) -> str:
    return _ONE_TIME.sub(r"\1\2", page_html)


class RunArtifacts:
    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.dir = runs_dir / run_id
        self._counter = 0

    def path(self, label: str, suffix: str) -> Path:
        self._counter += 1
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = _UNSAFE.sub("-", label.lower()).strip("-") or "page"
        return self.dir / f"{self._counter:02d}-{name}{suffix}"

    async def capture(self, page: Page, label: str) -> list[Path]:
        """Save a screenshot and the HTML of the page as it is now. Never raises."""
        saved: list[Path] = []
        try:
            shot = self.path(label, ".png")
            await page.screenshot(path=str(shot), full_page=True, timeout=10_000)
            saved.append(shot)
        except Exception as err:  # evidence is best effort; the caller's error matters more
            log.warning("artifacts.screenshot_failed", error=str(err))
        try:
            html = self.path(label, ".html")
            page_html = blank_one_time_values(await page.content())
            html.write_text(redact_text(page_html), encoding="utf-8")
            saved.append(html)
        except Exception as err:
            log.warning("artifacts.html_failed", error=str(err))
        if saved:
            log.info("artifacts.saved", files=[str(p) for p in saved])
        return saved
