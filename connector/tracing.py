"""Playwright traces that never hold a secret, and the failure bundle an engineer opens at 3 a.m.

Playwright records fill() values, DOM snapshots and network headers, and will not redact them
(microsoft/playwright#19992). So tracing starts only once the connector is signed in, pauses
around any later sign-in, and every saved trace is rewritten with the session's cookie values
and the configured secrets replaced, in raw, URL-encoded and JSON-escaped forms.
"""

from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from playwright.async_api import BrowserContext, Page, Request, Response

from connector.logs import MASK, get_logger, redact_text, secret_forms

log = get_logger(__name__)

# "writes": what commands that write record when no mode is asked for. Tracing starts at the
# first row lookup of a removal (not at the sign-in or the plan's read, which a full read's
# trace made ~20% of a removal), records no DOM snapshots, and the trace is kept only when the
# run fails; a removal that succeeds keeps its before/after screenshots and audit record, which
# is what an auditor reads.
TraceMode = Literal["on", "retain-on-failure", "writes", "off"]


def scrub_zip(path: Path, secrets: list[str]) -> None:
    """Rewrite a trace zip with every form of every secret replaced by a mask."""
    forms = sorted({f.encode() for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    tmp = path.with_suffix(".scrubbing")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            for form in forms:
                data = data.replace(form, MASK.encode())
            dst.writestr(item, data)
    tmp.replace(path)


class Tracer:
    """Starts after sign-in, pauses around later sign-ins, saves chunks as trace-N.zip."""

    def __init__(
        self, context: BrowserContext, mode: TraceMode, run_dir: Path, secrets: list[str]
    ) -> None:
        self.context = context
        self.mode = mode
        self.run_dir = run_dir
        self.secrets = secrets
        self.files: list[Path] = []
        self._started = False
        self._recording = False
        self._went_wrong = False  # an outcome that is not proven success: keep the trace

    def went_wrong(self) -> None:
        """A write ended failed or unknown without an error escaping: keep the trace."""
        self._went_wrong = True

    async def start(self, *, write: bool = False) -> None:
        """Call once signed in (`write`: about to look up a row to change). Idempotent."""
        if self.mode == "off" or self._recording or (self.mode == "writes" and not write):
            return
        if not self._started:
            # "writes" records the actions, network and console, but neither the screencast nor
            # DOM snapshots: those cost ~0.3 s a removal (issue 18), and a failure's bundle saves
            # the page's HTML and a screenshot anyway; the removal keeps its own screenshots.
            full = self.mode != "writes"
            await self.context.tracing.start(screenshots=full, snapshots=full, sources=full)
            self._started = True
        else:
            await self.context.tracing.start_chunk()
        self._recording = True
        log.info("trace.recording")

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Around a sign-in: nothing typed while it runs is recorded."""
        was_recording = self._recording
        if was_recording:
            await self._save_chunk()
        try:
            yield
        finally:
            if was_recording:
                await self.start(write=True)  # it was recording: on again, whatever the mode

    async def _save_chunk(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.run_dir / f"trace-{len(self.files) + 1}.zip"
        await self.context.tracing.stop_chunk(path=str(path))
        self._recording = False
        await self._scrub(path)
        self.files.append(path)

    async def finish(self, *, failed: bool) -> list[Path]:
        """Stop tracing; keep the trace if the mode says so. Returns the files kept."""
        if not self._started:
            return []
        failed = failed or self._went_wrong
        keep = self.mode == "on" or (self.mode in ("retain-on-failure", "writes") and failed)
        if self._recording and keep:
            await self._save_chunk()
        await self.context.tracing.stop()
        self._recording = False
        if not keep:
            for path in self.files:
                path.unlink(missing_ok=True)
            self.files = []
        if self.files:
            log.info("trace.saved", files=[str(p) for p in self.files])
        return self.files

    async def _scrub(self, path: Path) -> None:
        cookies = [c.get("value", "") for c in await self.context.cookies()]
        scrub_zip(path, [v for v in cookies if v] + self.secrets)


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class PageLog:
    """Console messages, failed requests and every write request with its answer, for the
    failure bundle (a "writes" trace holds no network). Query strings dropped."""

    def __init__(self, page: Page) -> None:
        self.console: list[str] = []
        self.network: list[str] = []
        self._t0 = time.monotonic()
        page.on("console", lambda msg: self.console.append(self._line(f"{msg.type}: {msg.text}")))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)
        page.on("response", self._response)

    def _line(self, text: str) -> str:
        return f"+{time.monotonic() - self._t0:8.3f}s {redact_text(text)}"

    def _failed(self, request: Request) -> None:
        url = request.url.split("?", 1)[0]
        self.network.append(self._line(f"FAILED {request.method} {url}: {request.failure}"))

    def _request(self, request: Request) -> None:
        if request.method not in _READS:  # sent: a write that never answers shows here alone
            url = request.url.split("?", 1)[0]
            self.network.append(self._line(f"SENT {request.method} {url}"))

    def _response(self, response: Response) -> None:
        if response.status >= 400 or response.request.method not in _READS:
            url = response.url.split("?", 1)[0]
            self.network.append(
                self._line(f"HTTP {response.status} {response.request.method} {url}")
            )

    def write(self, run_dir: Path) -> list[Path]:
        """console.log and network.log in `run_dir`."""
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths = []
        for name, lines in (("console.log", self.console), ("network.log", self.network)):
            path = run_dir / name
            path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
            paths.append(path)
        return paths


def write_bundle(
    run_dir: Path,
    *,
    command: str,
    error: BaseException,
    element: str | None,
    files: list[Path],
    page_log: PageLog | None,
) -> Path:
    """README.txt, console.log and network.log beside the screenshot, HTML and trace."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    extra = page_log.write(run_dir) if page_log is not None else []
    traces = [f for f in files if f.suffix == ".zip"]
    listing = "\n".join(f"  {p.name}" for p in [*files, *extra])
    replay = "\n".join(f"  stitch-connector show-trace {p}" for p in traces) or (
        "  (no trace: run again with --trace on or retain-on-failure)"
    )
    readme = run_dir / "README.txt"
    readme.write_text(
        f"stitch-connector: {command} failed\n\n"
        f"error: {type(error).__name__}: {redact_text(str(error))}\n"
        f"element: {element or '-'}\n\nfiles:\n{listing}\n\n"
        f"replay the trace (Playwright's trace viewer):\n{replay}\n",
        encoding="utf-8",
    )
    return readme


def prune_runs(
    runs_dir: Path, *, keep: int, max_age_days: float, audited: frozenset[str] = frozenset()
) -> int:
    """Delete run folders beyond the newest `keep`, and any older than `max_age_days`. Runs
    in `audited` (the audit trail's evidence and undo.json; "*": all) are kept and not
    counted."""
    if not runs_dir.is_dir() or "*" in audited:
        return 0
    runs = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and p.name not in audited),
        key=lambda p: p.stat().st_mtime,
    )
    cutoff = time.time() - max_age_days * 86_400
    doomed = runs[: max(len(runs) - keep, 0)]
    doomed += [p for p in runs if p.stat().st_mtime < cutoff and p not in doomed]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    if doomed:
        log.info("runs.pruned", count=len(doomed))
    return len(doomed)
