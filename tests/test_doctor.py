from __future__ import annotations

import json
import logging
from pathlib import Path

from flynn_desktop.config import Config
from flynn_desktop.doctor import cpu_check, cpu_flags, display_available, format_checks, run_checks
from flynn_desktop.logging_setup import setup_logging


def test_display_detection() -> None:
    assert display_available({}) == (False, "no DISPLAY or WAYLAND_DISPLAY")
    assert display_available({"DISPLAY": ":1"})[0]
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"})[0]
    assert display_available({"QT_QPA_PLATFORM": "offscreen"})[0]


def test_cpu_flags_are_read_and_judged(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f\n")
    flags = cpu_flags(info)
    assert {"avx2", "fma", "avx512f"} <= flags
    assert cpu_flags(tmp_path / "missing") == set()
    ok = cpu_check(flags, "x86_64")
    assert ok.ok and "avx512f" in ok.detail
    old = cpu_check({"sse4_2", "avx"}, "x86_64")  # a CPU without AVX2: said plainly, as a problem
    assert old.problem and "lacks" in old.detail and "avx2" in old.detail
    assert cpu_check(set(), "aarch64").ok
    # a portable build (the installers') has kernels for every x86-64 CPU: an old one is no problem
    assert cpu_check({"sse4_2", "avx"}, "x86_64", portable=True).ok


def test_checks_report_the_set_up(paths, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import flynn_desktop.doctor as doctor

    real = doctor.cpu_flags()  # this CPU, as if it had what the check needs: the test is not about it
    monkeypatch.setattr(doctor, "cpu_flags", lambda: real | set(doctor.X86_NEEDS))
    checks = {c.name: c for c in run_checks(Config(), paths, paths.config_file)}
    assert checks["model"].ok and "verified" in checks["model"].detail
    assert checks["llama.cpp"].ok and "0.3" in checks["llama.cpp"].detail
    assert "CPU kernels built for this CPU" in checks["llama.cpp"].detail  # make run's build, not portable
    assert not any(c.problem for c in checks.values())
    text = format_checks(list(checks.values()))
    assert "] cpu" in text


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
