from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.main_window import MainWindow


@pytest.fixture
def open_window(qtbot, make_runtime, paths) -> Iterator[Callable[..., MainWindow]]:  # type: ignore[no-untyped-def]
    bridges: list[RuntimeBridge] = []
    windows: list[MainWindow] = []

    def make(provider=None, state_file: Path | None = None, runtime=None) -> MainWindow:  # type: ignore[no-untyped-def]
        rt = runtime or make_runtime(provider)
        bridge = RuntimeBridge(rt)
        bridges.append(bridge)
        w = MainWindow(bridge, state_file or paths.window_state)
        windows.append(w)
        w.show()
        return w

    yield make
    for b in bridges:  # first: nothing late from the Runtime reaches a window being deleted
        b.close()
    # Delete the windows now, while Python still holds them. (qtbot.addWidget would deleteLater() them
    # and let a later test's event loop run the deletion after the wrapper may be gone, which crashed
    # PySide6 6.12 inside shiboken's override lookup in ~QObject.)
    for w in windows:
        w.close()
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    for b in bridges:
        b.close()
    windows.clear()
    gc.collect()
