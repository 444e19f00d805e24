"""Logging: structlog to stderr, JSON when not a TTY, every line tagged with the run id.

Redaction happens once, in a processor at the logger, not at each call site: any registered secret
value is masked wherever it appears, and values under secret-looking keys are masked whole.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
import urllib.parse
import uuid
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
_SECRET_KEYS = re.compile(
    r"password|passwd|secret|totp|token|cookie|authorization|storage_state", re.I
)
_secrets: set[str] = set()


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def secret_forms(value: str) -> set[str]:
    """The ways a secret shows up in text: as is, HTML-, URL- and JSON-escaped. Very short
    values give none: masking them would mask ordinary words."""
    if len(value) < 4:
        return set()
    return {
        value,
        html.escape(value),
        urllib.parse.quote(value, safe=""),
        json.dumps(value)[1:-1],
    }


def register_secrets(*values: str) -> None:
    """Mask these strings, in every form, in every later log line and saved page."""
    for value in values:
        _secrets.update(secret_forms(value))


def first_line(message: str) -> str:
    """Playwright errors carry a multi-line call log; users get the first line."""
    return message.strip().splitlines()[0] if message.strip() else message


def redact_text(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if _SECRET_KEYS.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SECRET_KEYS.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def configure(
    *, run_id: str, level: str = "info", stream: TextIO | None = None, json: bool | None = None
) -> None:
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,  # last before rendering: sees everything that will be printed
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
