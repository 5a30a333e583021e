"""Logging: JSON lines to a rotating file in the log folder, and warnings to stderr."""

from __future__ import annotations

import json
import logging
import logging.handlers
from pathlib import Path

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


def setup_logging(log_dir: Path, level: str = "info", stderr_level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_flynn", False):
            root.removeHandler(h)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fh: logging.Handler = logging.handlers.RotatingFileHandler(
            log_dir / "flynn.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        fh.setFormatter(JsonFormatter())
        fh._flynn = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    except OSError:
        pass  # a read-only log folder must not stop the app
    sh = logging.StreamHandler()
    sh.setLevel(stderr_level)
    sh.setFormatter(logging.Formatter("flynn: %(levelname)s: %(message)s"))
    sh._flynn = True  # type: ignore[attr-defined]
    root.addHandler(sh)
