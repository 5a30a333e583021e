"""Logging: JSON lines to a rotating file in the log folder, and warnings to stderr."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path

from flynn_desktop.paths import private_file

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


class BriefFormatter(logging.Formatter):
    """The terminal gets one line per problem; tracebacks (for bugs) go to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        return self.formatMessage(_plain(record))


def _plain(record: logging.LogRecord) -> logging.LogRecord:
    record.message = record.getMessage()
    return record


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A log that can't be written (a full disk, a read-only folder) says so once on stderr and
    stops trying; it never prints a traceback in the middle of the user's answer."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            reason = sys.exc_info()[1]
            print(
                f"flynn: can't write the log {self.baseFilename} ({reason}); going on without it",
                file=sys.stderr,
            )

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)


def setup_logging(
    log_dir: Path,
    level: str = "info",
    stderr_level: int = logging.WARNING,
    max_bytes: int = 2_000_000,
    backups: int = 3,
) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_flynn", False):
            root.removeHandler(h)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    try:
        fh: logging.Handler = QuietFileHandler(
            private_file(log_dir / "flynn.log"), maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        fh.setFormatter(JsonFormatter())
        fh._flynn = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    except OSError:
        pass  # a read-only log folder must not stop the app
    sh = logging.StreamHandler()
    sh.setLevel(stderr_level)
    sh.setFormatter(BriefFormatter("flynn: %(levelname)s: %(message)s"))
    sh._flynn = True  # type: ignore[attr-defined]
    root.addHandler(sh)
