"""The bridge between Qt and the Runtime's loop thread.

Runtime events arrive on the loop thread and are re-emitted as a Qt signal, which Qt queues to the GUI
thread. Requests go to the loop with `call()`, whose callbacks run back on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from flynn_desktop.core.events import Event
from flynn_desktop.errors import FlynnError


class RuntimeBridge(QObject):
    event_received = Signal(object)  # a core.events.Event, delivered on the GUI thread
    show_requested = Signal()
    _deliver = Signal(object, object)  # (callback, value)

    def __init__(self, runtime: Any) -> None:
        super().__init__()
        self.runtime = runtime
        self._deliver.connect(self._on_deliver)
        self._unsubscribe = runtime.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:  # loop thread
        self.event_received.emit(ev)

    def request_show(self) -> bool:  # loop thread (control socket)
        self.show_requested.emit()
        return True

    def call(
        self,
        coro: Coroutine[Any, Any, Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[FlynnError], None] | None = None,
    ) -> Future[Any]:
        fut = self.runtime.submit(coro)

        def done(f: Future[Any]) -> None:
            err = f.exception()
            if err is None:
                if on_done:
                    self._deliver.emit(on_done, f.result())
            elif on_error:
                e = err if isinstance(err, FlynnError) else FlynnError(f"{type(err).__name__}: {err}")
                self._deliver.emit(on_error, e)

        fut.add_done_callback(done)
        return fut

    @Slot(object, object)
    def _on_deliver(self, fn: Callable[[Any], None], value: Any) -> None:
        fn(value)

    def close(self) -> None:
        self._unsubscribe()
