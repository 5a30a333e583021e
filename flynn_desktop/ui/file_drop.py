"""Files dropped on the window: a .gguf model goes into the model library; other files are remembered
(memory's import, as the Memory page's) or asked about (their text goes into the message box, for
the user's question to follow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.widgets import choose

MAX_CHARS = 8000  # of a file's text put in a question: a small local model's context holds about this


def dropped_files(mime: QMimeData) -> list[Path]:
    """The local files (not folders, not web links) a drag carries."""
    paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
    return [p for p in paths if p.is_file()]


def question_about(name: str, text: str) -> str:
    """A file's text as the start of a question: fenced, cut to MAX_CHARS with a note saying so."""
    cut = ""
    if len(text) > MAX_CHARS:
        cut = f"\n(only the first {MAX_CHARS:,} of {len(text):,} characters)"
        text = text[:MAX_CHARS]
    return f"About the file {name}:{cut}\n```\n{text.rstrip()}\n```\n\n"


class FileDrop(QObject):
    """Watches the widgets a file may be dropped on; offers to remember the files or ask about them."""

    def __init__(
        self,
        parent: QWidget,
        bridge: RuntimeBridge,
        message_box: QPlainTextEdit,
        status: Callable[[str, int], None],
    ) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.bridge = bridge
        self.message_box = message_box
        self.status = status
        # What to do with dropped files: "remember", "ask" or "" (cancelled). Asks the user by default.
        self.choose: Callable[[list[Path]], str] = self._ask_user
        parent.setAcceptDrops(True)
        for widget in (parent, message_box.viewport()):
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QDragEnterEvent) or event.type() == QEvent.Type.DragMove:
            assert isinstance(event, QDragEnterEvent | QDropEvent)
            if dropped_files(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif isinstance(event, QDropEvent):
            files = dropped_files(event.mimeData())
            if files:
                event.acceptProposedAction()
                self.offer(files)
                return True
        return False

    def offer(self, files: list[Path]) -> None:
        if all(p.suffix.lower() == ".gguf" for p in files):  # models: into the model library
            for path in files:
                self.add_model(path)
            return
        what = self.choose(files)
        if what == "remember":
            self.remember(files)
        elif what == "ask":
            self.ask_about(files)

    def _ask_user(self, files: list[Path]) -> str:
        names = ", ".join(p.name for p in files[:3]) + (
            f" and {len(files) - 3} more" if len(files) > 3 else ""
        )
        return choose(
            self.parent_widget,
            "A file for Flynn",
            f"What should Flynn do with {names}?",
            [("remember", "Remember it"), ("ask", "Ask about it")],
            "Remember it: Flynn keeps it in memory and uses it in later answers (Memory… lists it).\n"
            "Ask about it: its text goes into your message; type your question after it.",
        )

    def add_model(self, path: Path) -> None:
        self.status(f"Importing the model {path.name}…", 0)

        def done(m: Any) -> None:
            self.status(
                f"Imported {m.name}: choose it as local:{m.name} (Models… to make it the default).", 15000
            )

        self.bridge.call(self.bridge.runtime.library.import_file(path), done, self._failed)

    def remember(self, files: list[Path]) -> None:
        for path in files:
            self.status(f"Remembering {path.name}…", 0)

            def done(report: Any, name: str = path.name) -> None:
                skipped = [why for _p, why in report.skipped]
                if skipped:
                    self.status(f"{name} was not remembered: {'; '.join(skipped)}", 15000)
                elif report.unchanged:
                    self.status(f"{name} is already in memory, unchanged.", 10000)
                else:
                    self.status(f"Remembered {name}: {report.chunks} passages.", 10000)

            self.bridge.call(self.bridge.runtime.memory.import_path(path), done, self._failed)

    def ask_about(self, files: list[Path]) -> None:
        for path in files:

            def put(text: str, name: str = path.name) -> None:
                self.message_box.moveCursor(self.message_box.textCursor().MoveOperation.End)
                self.message_box.insertPlainText(question_about(name, text))
                self.message_box.setFocus()
                self.status(f"{name} is in your message: type your question after it.", 10000)

            self.bridge.call(self.bridge.runtime.memory.read_document(path), put, self._failed)

    def _failed(self, e: FlynnError) -> None:
        self.status(str(e), 15000)
