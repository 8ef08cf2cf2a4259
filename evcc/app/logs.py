"""Logging for journald (SERVICE.md "Logging"): one line per record on stderr, prefixed with the syslog
priority ``<N>`` that journald turns into PRIORITY=, then ``logger: message`` and any structured fields the
record carries in ``extra={"fields": {...}}`` as ``key=value`` (values quoted when they contain spaces).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def priority(levelno: int) -> int:
    for level, prio in PRIORITIES:
        if levelno >= level:
            return prio
    return 7


def _value(v: object) -> str:
    text = str(v)
    return f'"{text}"' if (" " in text or not text) else text


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"<{priority(record.levelno)}>{record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        if record.exc_info and record.levelno >= logging.ERROR:
            text += " exception=" + _value(repr(record.exc_info[1]))
        return text.replace("\n", " | ")


def setup_logging(level: str, stream: TextIO = sys.stderr) -> None:
    """Replace the root handlers with one journald-style stderr handler at ``level``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
