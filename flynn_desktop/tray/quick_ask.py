"""Quick ask: a small always-on-top box that answers without the main window. Each question starts a
new session (tagged `quick`), so the answer is kept and "Open in Flynn" shows it there."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout

from flynn_desktop.core.events import Delta, Event, RunCancelled, RunError, RunFinished, RunStarted
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.main_window import MainWindow


class QuickAsk(QDialog):
    def __init__(self, bridge: RuntimeBridge, window: MainWindow) -> None:
        super().__init__(None, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.bridge = bridge
        self.window_ = window
        self.setWindowTitle("Quick ask — Flynn")
        self.resize(520, 300)
        lay = QVBoxLayout(self)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask Flynn… (Enter)")
        self.input.returnPressed.connect(self.ask)
        self.answer = QTextBrowser()
        self.answer.setOpenExternalLinks(True)
        self.note = QLabel("")
        self.open_button = QPushButton("Open in Flynn")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_in_window)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.open_button)
        lay.addWidget(self.input)
        lay.addWidget(self.answer, 1)
        lay.addLayout(row)
        self.run_id: str | None = None
        self.session_id: str | None = None
        self.text = ""
        bridge.event_received.connect(self.on_event)

    def present(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()
        self.input.setFocus()

    def ask(self) -> None:
        question = self.input.text().strip()
        if not question or self.run_id is not None:
            return
        self.text = ""
        self.answer.clear()
        self.note.setText("Thinking…")
        self.open_button.setEnabled(False)
        self.bridge.call(
            self.bridge.runtime.chat.send(question, None, None, source="quick"), self._sent, self._failed
        )

    def _sent(self, ids: tuple[str, str]) -> None:
        self.run_id, self.session_id = ids
        self.input.clear()

    def _failed(self, e: FlynnError) -> None:
        self.run_id = None
        self.note.setText(str(e))

    def on_event(self, ev: Event) -> None:
        if getattr(ev, "run_id", None) != self.run_id or self.run_id is None:
            return
        if isinstance(ev, RunStarted):
            self.note.setText(f"{ev.model} is answering…")
        elif isinstance(ev, Delta):
            self.text += ev.text
            self.answer.setMarkdown(self.text)
        elif isinstance(ev, RunFinished | RunCancelled | RunError):
            self.run_id = None
            self.open_button.setEnabled(self.session_id is not None)
            self.note.setText(ev.message if isinstance(ev, RunError) else "")

    def open_in_window(self) -> None:
        if self.session_id:
            self.window_.open_session(self.session_id)
            self.window_.bring_to_front()  # the list already has it: its creation was an event
        self.hide()
