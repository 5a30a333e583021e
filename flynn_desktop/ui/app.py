"""Start the window: the Qt application over a Runtime that runs on its own thread."""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from flynn_desktop.config import Config
from flynn_desktop.paths import Paths
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.main_window import MainWindow


def run_gui(config: Config, paths: Paths) -> int:
    """Run the window until it closes. The caller holds the instance lock."""
    from flynn_desktop.control import ControlServer
    from flynn_desktop.runtime import Runtime

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Flynn")
    app.setWindowIcon(QIcon.fromTheme("dialog-information"))
    runtime = Runtime(config, paths)
    runtime.start()
    bridge = RuntimeBridge(runtime)
    server = ControlServer(runtime, on_show=bridge.request_show)
    try:
        runtime.submit(server.start()).result()
        window = MainWindow(bridge, paths.window_state)
        window.show()
        # SIGTERM / Ctrl+C close the window the normal way (state saved, answers kept). Python runs
        # signal handlers only when it gets control, so a timer gives it control a few times a second.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: window.close())
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(200)
        bridge.call(runtime.load_model())  # load now, with progress, rather than at the first question
        return app.exec()
    finally:
        runtime.submit(server.close()).result()
        bridge.close()
        runtime.stop()
