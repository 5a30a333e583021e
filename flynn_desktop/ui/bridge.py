"""The bridge between Qt and the Runtime's loop thread.

Runtime events arrive on the loop thread. They go into a plain Python queue, and the GUI thread is woken
by a signal that carries no Python objects; it then drains the queue and re-emits each event as
`event_received`, on the GUI thread. (Queued signals that carry Python objects across threads leave
their reference counting to Qt's thread, which crashed the interpreter's GC now and then.)
Requests go to the loop with `call()`, whose callbacks run back on the GUI thread the same way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot

from flynn_desktop.core.events import Event
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.face import RuntimeFace

Item = tuple[Callable[[Any], None], Any]


class RuntimeBridge(QObject):
    event_received = Signal(object)  # a core.events.Event, emitted on the GUI thread only
    show_requested = Signal()
    quit_requested = Signal()
    _wake = Signal()

    def __init__(self, runtime: RuntimeFace) -> None:
        super().__init__()
        self.runtime = runtime
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._pending = threading.Event()
        self._closed = False
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = runtime.subscribe(self._on_event)

    def _post(self, fn: Callable[[Any], None], value: Any) -> None:  # any thread
        self._inbox.put((fn, value))
        if not self._pending.is_set():
            self._pending.set()
            self._wake.emit()

    @Slot()
    def _drain(self) -> None:  # GUI thread
        self._pending.clear()
        while True:
            try:
                fn, value = self._inbox.get_nowait()
            except queue.Empty:
                return
            owner = getattr(fn, "__self__", None)
            if self._closed or (isinstance(owner, QObject) and not shiboken6.isValid(owner)):
                continue  # its window is gone: an answer that arrives late has nowhere to go
            fn(value)

    def _on_event(self, ev: Event) -> None:  # loop thread
        self._post(self.event_received.emit, ev)

    def request_show(self) -> bool:  # loop thread (control socket)
        self._post(lambda _v: self.show_requested.emit(), None)
        return True

    def request_quit(self) -> bool:  # loop thread (control socket: `flynn quit`)
        self._post(lambda _v: self.quit_requested.emit(), None)
        return True

    def call(
        self,
        coro: Coroutine[Any, Any, Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[FlynnError], None] | None = None,
    ) -> Future[Any]:
        fut = self.runtime.submit(coro)

        def done(f: Future[Any]) -> None:
            if f.cancelled():  # Flynn is quitting: nothing waits for it any more
                return
            err = f.exception()
            if err is None:
                if on_done:
                    self._post(on_done, f.result())
            elif on_error:
                e = err if isinstance(err, FlynnError) else FlynnError(f"{type(err).__name__}: {err}")
                self._post(on_error, e)

        fut.add_done_callback(done)
        return fut

    def close(self) -> None:
        self._closed = True
        self._unsubscribe()
