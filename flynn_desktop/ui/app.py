"""Start the window: the Qt application over a Runtime that runs on its own thread.

The caller (host.py's order, through `flynn`) starts the Runtime and the gateway, and stops them when
this returns."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.face import RuntimeFace
from flynn_desktop.ui.main_window import MainWindow


def run_gui(
    runtime: RuntimeFace,
    state_file: Path,
    set_show_handler: Callable[[Callable[[], bool]], None],
    gateway_token: Callable[[], str] | None = None,
) -> int:
    """Run the window until it closes. `set_show_handler` connects "show the window" requests from a
    second `flynn` to this window; `gateway_token` gives the token for "Copy token"."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Flynn")
    app.setWindowIcon(QIcon.fromTheme("dialog-information"))
    bridge = RuntimeBridge(runtime)
    try:
        window = MainWindow(bridge, state_file)
        window.add_gateway_panel(gateway_token)
        window.show()
        set_show_handler(bridge.request_show)
        # SIGTERM / Ctrl+C close the window the normal way (state saved, answers kept). Python runs
        # signal handlers only when it gets control, so a timer gives it control a few times a second.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: window.close())
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(200)
        bridge.call(runtime.models.load())  # load now, with progress, rather than at the first question
        return app.exec()
    finally:
        bridge.close()
