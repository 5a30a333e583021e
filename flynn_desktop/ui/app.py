"""Start the window: the Qt application over a Runtime that runs on its own thread.

The caller (host.py's order, through `flynn`) starts the Runtime and the gateway, and stops them when
this returns."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from flynn_desktop.errors import FlynnError
from flynn_desktop.paths import icon_file
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.face import RuntimeFace
from flynn_desktop.ui.main_window import MainWindow
from flynn_desktop.ui.theme import apply_theme

log = logging.getLogger(__name__)


def run_gui(
    runtime: RuntimeFace,
    state_file: Path,
    set_handlers: Callable[[Callable[[], bool], Callable[[], bool]], None],
    gateway_token: Callable[[], str] | None = None,
    shell: Callable[[QApplication, RuntimeBridge, MainWindow], object] | None = None,
    background: bool = False,
    started: Callable[[], None] | None = None,
    config_path: Path | None = None,
    open_store: Callable[[], None] | None = None,
) -> int:
    """Run the window until Flynn quits. `set_handlers(show, quit)` connects a second `flynn`'s "show
    the window" and `flynn quit` to this one; `gateway_token` gives the token for "Copy token";
    `shell` (the tray agent) wraps the window; with `background` the window starts hidden. Once the
    window is up: `open_store` opens the session store (a failure is shown, and Flynn ends with
    its exit code), then `started` (the gateway, automation) runs on a worker thread."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Flynn")
    app.setDesktopFileName("flynn-desktop")
    app.setWindowIcon(QIcon(str(icon_file())))
    apply_theme(app, runtime.config.window.theme)
    bridge = RuntimeBridge(runtime)
    try:
        window = MainWindow(bridge, state_file)
        if config_path is not None:
            window.config_path = config_path
        window.add_gateway_panel(gateway_token)
        kept = shell(app, bridge, window) if shell is not None else None
        if not background:
            window.show()
        # SIGTERM / Ctrl+C quit the normal way (state saved, answers kept). Python runs a signal's
        # handler only when it gets control: the wake-up fd wakes Qt's loop (no polling timer).
        notifier = _wake_on_signals(window.quit_app)

        def after_first_paint() -> None:
            app.processEvents()  # the window painted, before the store's SQLAlchemy is imported
            try:
                if open_store is not None:
                    open_store()
            except FlynnError as e:
                log.error("%s", e)
                print(f"flynn: {e}", file=sys.stderr)
                QMessageBox.critical(None if background else window, "Flynn can't start", str(e))
                app.exit(e.exit_code)
                return
            set_handlers(bridge.request_show, bridge.request_quit)
            if started is not None:  # the gateway: FastAPI is imported after the window shows
                threading.Thread(target=started, name="flynn-start", daemon=True).start()
            if not background:  # load now, with progress, rather than at the first question; in the
                bridge.call(runtime.models.load())  # tray, at the first question (small while it waits)

        QTimer.singleShot(0, after_first_paint)
        code = app.exec()
        del kept, notifier
        return code
    finally:
        bridge.close()


def _wake_on_signals(quit_app: Callable[[], None]) -> QSocketNotifier:
    read, write = socket.socketpair()
    read.setblocking(False)
    write.setblocking(False)
    signal.set_wakeup_fd(write.fileno())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: quit_app())
    notifier = QSocketNotifier(read.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            read.recv(64)  # the handlers ran as Python got control for this slot

    notifier.activated.connect(drain)
    notifier._sockets = (read, write)  # type: ignore[attr-defined]  # kept open as long as it lives
    return notifier
