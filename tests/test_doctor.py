from __future__ import annotations

import json
import logging
from pathlib import Path

from flynn_desktop.config import Config
from flynn_desktop.doctor import cpu_flags, display_available, format_checks, run_checks
from flynn_desktop.logging_setup import setup_logging


def test_display_detection() -> None:
    assert display_available({}) == (False, "no DISPLAY or WAYLAND_DISPLAY")
    assert display_available({"DISPLAY": ":1"})[0]
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"})[0]
    assert display_available({"QT_QPA_PLATFORM": "offscreen"})[0]


def test_cpu_flags_are_read() -> None:
    flags = cpu_flags()
    assert flags  # Linux: /proc/cpuinfo
    assert {"avx2", "fma"} <= flags or {"asimd"} & flags or {"neon"} & flags


def test_checks_report_the_set_up(paths) -> None:  # type: ignore[no-untyped-def]
    checks = {c.name: c for c in run_checks(Config(), paths, paths.config_file)}
    assert checks["model"].ok and "verified" in checks["model"].detail
    assert checks["llama.cpp"].ok and "0.3" in checks["llama.cpp"].detail
    assert not any(c.problem for c in checks.values())
    text = format_checks(list(checks.values()))
    assert "[ok  ] cpu" in text


def test_logs_are_json_lines(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    setup_logging(tmp_path, "debug")
    logging.getLogger("flynn_desktop.test").info("hello %s", "log")
    for h in root.handlers:
        h.flush()
        if h not in before:
            root.removeHandler(h)
            h.close()
    line = (tmp_path / "flynn.log").read_text().strip().splitlines()[-1]
    doc = json.loads(line)
    assert doc["message"] == "hello log" and doc["level"] == "info" and doc["logger"] == "flynn_desktop.test"
