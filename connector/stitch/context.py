"""What every page object of one run shares: the page, the selector set, the settings and
where evidence goes. Built once per run (by StitchUI) instead of passed by hand."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import Page

from connector.artifacts import RunArtifacts
from connector.selector_set import SelectorSet
from connector.settings import Settings


@dataclass(frozen=True)
class PageContext:
    page: Page
    selectors: SelectorSet
    settings: Settings
    artifacts: RunArtifacts
