"""Guard against a Qt binding that miscounts references to None, True or False.

PySide6 6.12.0 on Python 3.11 returned None from void methods without a reference, so every call
drained None's count, and the interpreter aborted once it reached zero (in a long session, or at exit).
pyproject pins below it; this test fails if an upgrade brings such a bug back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QTextBrowser


def test_qt_calls_keep_singleton_refcounts(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    button, view, label, combo, timer = QPushButton(), QTextBrowser(), QLabel(), QComboBox(), QTimer()
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    combo.addItem("a")
    calls = [
        lambda: button.setEnabled(False),
        lambda: button.isEnabled(),
        lambda: view.setHtml("<p>x</p>"),
        lambda: label.setWordWrap(True),
        lambda: (timer.start(1000), timer.stop()),
        lambda: timer.isActive(),
        lambda: combo.setCurrentIndex(0),
        lambda: combo.currentData(),
        lambda: settings.contains("x"),
        lambda: button.blockSignals(False),
    ]
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(500):
        for call in calls:
            call()
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    drift = [a - b for a, b in zip(after, before, strict=True)]
    assert all(d > -50 for d in drift), f"refcounts of (None, True, False) drifted by {drift}"
